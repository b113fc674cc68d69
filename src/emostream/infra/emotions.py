"""The seven emotion classes, in the order every model and event uses.

Written once, as the type the event's ``label`` is checked against; the tuple
every model, metric and page iterates over is read from it.
"""

from __future__ import annotations

from typing import Literal, get_args

Emotion = Literal["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
EMOTIONS: tuple[str, ...] = get_args(Emotion)
