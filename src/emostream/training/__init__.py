"""Training, evaluation and export of emotion models (``emostream train|evaluate|export``)."""
