"""What ``range: auto`` adds to short range: distant faces in large frames, each found once across tile seams."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data as skdata

from emostream.detector.litert import LiteRTBlazeFace

ASTRONAUT_FACE = (178, 83, 95)  # x, y, side of the astronaut's face in skimage's 512x512 image (BlazeFace short range)


def distant_face(centre_x: int, face_px: int, size: tuple[int, int] = (1280, 720)) -> tuple[np.ndarray, tuple[float, float]]:
    """A grey RGB frame with the astronaut scaled so her face is ``face_px`` wide, its centre at (centre_x, 360)."""
    width, height = size
    k = face_px / ASTRONAUT_FACE[2]
    portrait = cv2.resize(np.asarray(skdata.astronaut()), None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
    fx, fy = (ASTRONAUT_FACE[0] + ASTRONAUT_FACE[2] / 2) * k, (ASTRONAUT_FACE[1] + ASTRONAUT_FACE[2] / 2) * k
    x, y = round(centre_x - fx), round(height / 2 - fy)
    frame = np.full((height, width, 3), 120, np.uint8)
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + portrait.shape[1], width), min(y + portrait.shape[0], height)
    frame[y0:y1, x0:x1] = portrait[y0 - y : y1 - y, x0 - x : x1 - x]  # the portrait cut at the frame's edges
    return frame, (centre_x, height / 2)


@pytest.mark.parametrize("centre_x", [300, 640, 720, 980], ids=["left tile", "both tiles", "on the left tile's edge", "right tile"])
def test_auto_finds_a_distant_face_once_where_short_range_finds_none(centre_x: int) -> None:
    frame, (cx, cy) = distant_face(centre_x, 56)
    with LiteRTBlazeFace("short") as short, LiteRTBlazeFace("auto") as auto:
        assert short.detect_native(frame) == [], "short range on a 1280x720 frame should not see a 56 px face"
        found = auto.detect_native(frame)
    assert len(found) == 1, f"one face, found once across the tiles: {[d.box for d in found]}"
    (face,) = found
    assert 40 <= face.w <= 80 and abs(face.x + face.w / 2 - cx) < 10 and abs(face.y + face.h / 2 - cy) < 15, face.box
    assert face.keypoints is not None and face.keypoints[0][0] < face.keypoints[1][0], "right eye (the person's) left of the left eye"


def test_auto_keeps_a_near_face_that_fills_the_frame() -> None:
    frame, _ = distant_face(640, 400)
    with LiteRTBlazeFace("auto") as auto:
        found = auto.detect_native(frame)
    assert len(found) == 1 and 330 <= found[0].w <= 480, [d.box for d in found]
