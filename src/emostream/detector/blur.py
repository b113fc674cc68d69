"""Blurring faces out of a frame: privacy before a picture leaves ingest (the live preview) or is saved (annotated output)."""

from __future__ import annotations

import cv2
import numpy as np


def blur_faces(frame: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> np.ndarray:
    """Pixelate then blur each box so the face cannot be recognised; returns a new frame."""
    out = frame.copy()
    height, width = out.shape[:2]
    for x, y, w, h in boxes:
        x0, y0, x1, y1 = max(0, x), max(0, y), min(width, x + w), min(height, y + h)
        if x1 <= x0 or y1 <= y0:
            continue
        patch = out[y0:y1, x0:x1]
        small = cv2.resize(patch, (max(1, (x1 - x0) // 12), max(1, (y1 - y0) // 12)), interpolation=cv2.INTER_AREA)
        out[y0:y1, x0:x1] = cv2.GaussianBlur(cv2.resize(small, (x1 - x0, y1 - y0), interpolation=cv2.INTER_NEAREST), (0, 0), 3)
    return out
