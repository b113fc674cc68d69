"""BlazeFace's keypoints for another detector's faces: an upright close-up of each face through the short-range model.

YuNet finds faces BlazeFace misses (small, distant, blurred), but its
landmarks lean towards upright: a head turned 30° reads as 15-20° on some
faces (tests/detector/test_yunet.py), and the upright crop
(:mod:`~emostream.detector.upright`) and the face check read the turn from the
keypoints. BlazeFace's short-range model places them well at any roll it is
shown near upright, and a close-up makes any face large in its 128 px input.
So each face is cut out at :data:`CLOSE` box sides, turned by the first
detector's own estimate (most of the way to upright), all faces of a frame go
through the model as one batch, and the face found nearest the centre, of about
the right size, gives the keypoints, carried back to frame pixels. Where the
close-up finds no face the first detector's keypoints stay. Cost: one
short-range inference per face per detection (~1.5 ms on one core).
"""

from __future__ import annotations

import cv2
import numpy as np

from emostream.detector.base import Detection
from emostream.detector.check import CLOSE
from emostream.detector.decode import Decoded
from emostream.detector.litert import BUCKETS, BlazeFaceModel
from emostream.detector.upright import view_matrix

NEAR = 0.25  # how far (box sides) the close-up's face may lie from where the face's centre lands
MIN_SCORE = 0.3  # the close-up's face, already known to be a face, needs little evidence


class Landmarks:
    """Keypoints from BlazeFace short range for detections that have a box and a rough turn; one per thread."""

    def __init__(self, threads: int = 1) -> None:
        self.model = BlazeFaceModel("short", threads)

    def refine(self, image: np.ndarray, faces: list[Detection], colour: str) -> list[Detection]:
        """``faces`` with BlazeFace's six keypoints where its close-up finds the face (``image`` in ``colour``)."""
        out: list[Detection] = []
        for start in range(0, len(faces), BUCKETS[-1]):
            out += self._batch(image, faces[start : start + BUCKETS[-1]], colour)
        return out

    def _batch(self, image: np.ndarray, faces: list[Detection], colour: str) -> list[Detection]:
        size = self.model.size
        views = np.empty((len(faces), size, size, 3), np.uint8)
        matrices = []
        for i, face in enumerate(faces):
            matrix = view_matrix(face.box, face.keypoints, size, CLOSE)
            cv2.warpAffine(image, matrix, (size, size), dst=views[i], flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            if colour == "bgr":
                views[i] = views[i][:, :, ::-1]
            matrices.append(matrix)
        out = []
        for face, matrix, found in zip(faces, matrices, self.model.run(views, MIN_SCORE), strict=True):
            points = _nearest(found, matrix, face, size)
            out.append(face if points is None else Detection(face.x, face.y, face.w, face.h, face.score, points))
        return out


def _nearest(found: Decoded, matrix: np.ndarray, face: Detection, size: int) -> tuple[tuple[float, float], ...] | None:
    """The keypoints (frame pixels) of the close-up's face nearest where ``face``'s centre lands, of about its size."""
    boxes, keypoints = found.boxes, found.keypoints
    if len(boxes) == 0:
        return None
    cx, cy = (matrix @ np.array([face.x + face.w / 2, face.y + face.h / 2, 1.0])) / size
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    widths = boxes[:, 2] - boxes[:, 0]
    distance = np.hypot(centres[:, 0] - cx, centres[:, 1] - cy)
    fits = (distance <= NEAR / CLOSE) & (widths >= 0.5 / CLOSE) & (widths <= 2.0 / CLOSE)
    if not fits.any():
        return None
    best = int(np.argmin(np.where(fits, distance, np.inf)))
    inverse = cv2.invertAffineTransform(matrix)
    points = keypoints[best].astype(np.float64) * size
    frame = points @ inverse[:, :2].T + inverse[:, 2]
    return tuple((float(x), float(y)) for x, y in frame)
