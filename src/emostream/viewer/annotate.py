"""Draw faces and their emotions on frames: box, label, probability bars; optional blur.

Shared by ``emostream analyze`` and the live web view, so both look the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import cv2
import numpy as np

from emostream.detector.blur import blur_faces
from emostream.infra.emotions import EMOTIONS

# BGR colours per emotion (the same hues as the timeline chart).
COLOURS: dict[str, tuple[int, int, int]] = {
    "angry": (40, 39, 214),
    "disgust": (75, 86, 140),
    "fear": (189, 103, 148),
    "happy": (0, 184, 245),
    "sad": (180, 119, 31),
    "surprise": (207, 190, 23),
    "neutral": (127, 127, 127),
}


@dataclass(frozen=True)
class FaceLabel:
    box: tuple[int, int, int, int]
    probabilities: Mapping[str, float]
    track_id: int | None = None
    smoothed: str | None = None  # a track's smoothed label, shown instead of this frame's top class
    smoothed_score: float | None = None

    @property
    def label(self) -> str:
        return self.smoothed or max(EMOTIONS, key=lambda e: self.probabilities.get(e, 0.0))

    @property
    def score(self) -> float:
        return self.smoothed_score if self.smoothed_score is not None else float(self.probabilities.get(self.label, 0.0))


def _text(frame: np.ndarray, text: str, origin: tuple[int, int], scale: float, colour: tuple[int, int, int]) -> None:
    cv2.putText(frame, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(frame, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, 1, cv2.LINE_AA)


def draw_face(frame: np.ndarray, face: FaceLabel, bars: bool = True) -> None:
    """Box and label above it; the seven probability bars beside the box (in place)."""
    x, y, w, h = face.box
    label = face.label
    colour = COLOURS[label]
    scale = max(0.4, min(0.8, h / 250))
    cv2.rectangle(frame, (x, y), (x + w, y + h), colour, 2)
    tag = f"{'#' + str(face.track_id) + ' ' if face.track_id is not None else ''}{label} {face.score:.2f}"
    _text(frame, tag, (x, max(12, y - 6)), scale, colour)
    if bars:
        _draw_bars(frame, face)


def _draw_bars(frame: np.ndarray, face: FaceLabel) -> None:
    """Seven labelled bars in a dark panel: below the box, else beside it, else inside its bottom."""
    x, y, w, h = face.box
    height, width = frame.shape[:2]
    row = int(np.clip(h / 9, 10, 18))
    panel_h, panel_w = row * len(EMOTIONS) + 4, max(w, row * 7)
    if y + h + 3 + panel_h <= height:
        top, left = y + h + 3, x
    elif x + w + 3 + panel_w <= width:
        top, left = max(0, min(y, height - panel_h)), x + w + 3
    elif x - 3 - panel_w >= 0:
        top, left = max(0, min(y, height - panel_h)), x - 3 - panel_w
    else:
        top, left = max(0, y + h - panel_h), x
    left, right = max(0, left), min(width, left + panel_w)
    region = frame[top : top + panel_h, left:right]
    region[:] = (region * 0.35).astype(frame.dtype)  # darken for contrast
    label_w = int(row * 3.4)
    scale = row / 30
    for i, emotion in enumerate(EMOTIONS):
        row_top = top + 2 + i * row
        p = float(face.probabilities.get(emotion, 0.0))
        bar_left, bar_right = left + label_w, right - 3
        cv2.rectangle(frame, (bar_left, row_top + 2), (bar_left + int((bar_right - bar_left) * p), row_top + row - 2), COLOURS[emotion], -1)
        cv2.putText(frame, emotion, (left + 3, row_top + row - 3), cv2.FONT_HERSHEY_SIMPLEX, scale, (235, 235, 235), 1, cv2.LINE_AA)


def annotate(frame: np.ndarray, faces: list[FaceLabel], blur: bool = False, bars: bool = True) -> np.ndarray:
    """A copy of ``frame`` with every face drawn (and blurred first when ``blur``)."""
    out = blur_faces(frame, [f.box for f in faces]) if blur else frame.copy()
    for face in faces:
        draw_face(out, face, bars=bars)
    return out
