"""emostream."""
