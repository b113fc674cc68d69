"""The cue to detect between detection frames: a change away from the faces already followed (``detector.on_change``)."""

from __future__ import annotations

import cv2
import numpy as np

from emostream.ingest.change import ChangeWatch


def scene(seed: int = 0) -> np.ndarray:
    """A textured 640x480 background (smooth gradients plus fine noise), the same for every seed's base."""
    y, x = np.mgrid[0:480, 0:640]
    base = (60 + 0.2 * x + 0.1 * y + 20 * np.sin(x / 23.0) * np.cos(y / 31.0)).astype(np.float32)
    noise = np.random.default_rng(seed).normal(0, 3, base.shape)
    plane = np.clip(base + noise, 0, 255).astype(np.uint8)
    return np.repeat(plane[:, :, None], 3, axis=2)


def with_face(frame: np.ndarray, x: int, y: int, side: int = 32, soft: bool = False) -> np.ndarray:
    """A face-sized patch unlike the background, with a band for the eyes; ``soft``: its edges blurred, as a face's are."""
    out = frame.copy()
    skin, eyes = (40, 200) if frame[y : y + side, x : x + side].mean() > 128 else (200, 40)  # unlike the background
    out[y : y + side, x : x + side] = skin
    out[y + side // 4 : y + side // 4 + 4, x + side // 5 : x + side - side // 5] = eyes
    if soft:
        y0, x0, y1, x1 = max(0, y - side // 2), max(0, x - side // 2), y + side + side // 2, x + side + side // 2
        out[y0:y1, x0:x1] = cv2.GaussianBlur(out[y0:y1, x0:x1], (0, 0), side / 6)
    return out


def test_the_first_frame_and_a_still_noisy_scene_ask_for_nothing() -> None:
    watch = ChangeWatch()
    assert not watch.changed(scene(0), [])
    for seed in range(1, 6):  # sensor noise of 3 grey levels, frame after frame
        assert not watch.changed(scene(seed), [])


def test_a_face_appearing_away_from_the_followed_faces_asks_for_a_detection() -> None:
    watch = ChangeWatch()
    watch.changed(scene(0), [(100, 100, 60, 60)])
    assert watch.changed(with_face(scene(1), 400, 300), [(100, 100, 60, 60)])
    assert not watch.changed(with_face(scene(2), 400, 300), [(100, 100, 60, 60)]), "once there, it is no change"


def test_a_followed_face_that_moves_or_talks_asks_for_nothing() -> None:
    watch = ChangeWatch()
    followed = [(300, 200, 40, 40)]
    watch.changed(with_face(scene(0), 300, 200, 40, soft=True), followed)
    # it moves by 7 px (its soft edge changes cells around the box, which count only away from it) and its eyes' band changes
    moved = with_face(scene(1), 307, 203, 40, soft=True)
    moved[212:216, 312:332] = 128
    assert not watch.changed(moved, followed)


def test_a_smaller_frame_or_other_size_starts_over() -> None:
    watch = ChangeWatch()
    watch.changed(scene(0), [])
    assert not watch.changed(with_face(scene(1)[:240, :320], 100, 100), []), "a new size has nothing to compare with"
    assert watch.changed(with_face(scene(2)[:240, :320], 200, 150), [])


def test_someone_else_in_a_followed_face_s_place_asks_for_a_detection() -> None:
    watch = ChangeWatch()
    followed = [(300, 200, 40, 40)]
    watch.changed(with_face(scene(0), 300, 200, 40), followed)
    other = scene(1)
    other[200:240, 300:340] = 255 - with_face(scene(1), 300, 200, 40)[200:240, 300:340]  # a different face, same place
    assert watch.changed(other, followed)
