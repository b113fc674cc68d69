"""OpenCV's frontal-face Haar cascade: no model download, modest accuracy, CPU-cheap on small frames.

A cascade scans every position at every scale, so its cost grows with the
pixel count: a 1280x720 frame costs about four times a 640x360 one for the
same faces. Frames wider or taller than ``max_side`` are therefore shrunk
before detection and the boxes scaled back; the price is that faces smaller
than ``min_size`` *after* shrinking (48 px in a 1280x720 frame at the
default 640) are not found.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from emostream.detector.base import Detection, Detector, clip_box

CASCADE = "haarcascade_frontalface_default.xml"


class HaarDetector(Detector):
    """Haar cascades give no probability; the score is the cascade's level weight squashed to 0..1."""

    name = "haar"

    def __init__(self, scale_factor: float = 1.1, min_neighbors: int = 5, min_size: int = 24, max_side: int = 640) -> None:
        import cv2

        self._cv2 = cv2
        self._cascade = cv2.CascadeClassifier(cv2.data.haarcascades + CASCADE)  # type: ignore[attr-defined]
        if self._cascade.empty():
            raise FileNotFoundError(f"OpenCV could not load {CASCADE}; install opencv-contrib-python 4.x")
        self._params: dict[str, Any] = {"scaleFactor": scale_factor, "minNeighbors": min_neighbors, "minSize": (min_size, min_size)}
        self.max_side = max_side

    def detect_native(self, frame_bgr: np.ndarray) -> list[Detection]:
        cv2 = self._cv2
        height, width = frame_bgr.shape[:2]
        scale = min(1.0, self.max_side / max(height, width))
        if scale < 1.0:
            frame_bgr = cv2.resize(frame_bgr, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
        gray = cv2.equalizeHist(cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY))
        boxes, _, weights = self._cascade.detectMultiScale3(gray, outputRejectLevels=True, **self._params)
        found = []
        for (x, y, w, h), weight in zip(boxes, np.ravel(weights) if len(boxes) else [], strict=False):
            box = clip_box(x / scale, y / scale, w / scale, h / scale, width, height)
            if box is not None:
                found.append(Detection(*box, score=float(1.0 / (1.0 + np.exp(-float(weight))))))
        return found
