"""Seeing what emostream sees: annotated images and videos, and the live web view."""
