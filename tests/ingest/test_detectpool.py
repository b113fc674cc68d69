"""The detection threads: every submitted frame answered, on its own future, a detector's failure kept to its frame."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from emostream.detector import Detection, Detector
from emostream.ingest.detectpool import DetectPool


class Counting(Detector):
    """Finds one face whose score is the frame's first pixel / 255; a frame whose first pixel is 0 breaks it."""

    name = "counting"

    def __init__(self) -> None:
        self.closed = False
        self.threads: set[str] = set()

    def detect_native(self, image: np.ndarray) -> list[Detection]:
        self.threads.add(threading.current_thread().name)
        if image[0, 0, 0] == 0:
            raise ValueError("a frame this detector cannot take")
        return [Detection(0, 0, 8, 8, float(image[0, 0, 0]) / 255)]

    def close(self) -> None:
        self.closed = True


def frame(value: int) -> np.ndarray:
    return np.full((8, 8, 3), value, np.uint8)


def test_each_frame_gets_its_own_faces_and_each_thread_its_own_detector() -> None:
    pool = DetectPool(Counting, 2)
    futures = [pool.submit(frame(v)) for v in range(1, 101)]
    scores = [f.result(timeout=10)[0].score for f in futures]
    pool.close()
    assert scores == pytest.approx([v / 255 for v in range(1, 101)]), "the faces of each frame, not of another"
    assert sum(pool.served) == 100
    detectors = [d for d in pool.detectors if isinstance(d, Counting)]
    assert len(detectors) == 2 and all(len(d.threads) <= 1 for d in detectors), "a detector is used by one thread only"
    assert all(d.closed for d in detectors)


def test_a_frame_the_detector_cannot_take_fails_alone() -> None:
    pool = DetectPool(Counting, 1)
    bad, good = pool.submit(frame(0)), pool.submit(frame(51))
    assert isinstance(bad.exception(timeout=10), ValueError)
    assert good.result(timeout=10)[0].score == pytest.approx(0.2), "the next frame is detected as usual"
    pool.close()


def test_close_detects_what_was_submitted_first() -> None:
    pool = DetectPool(Counting, 2)
    futures = [pool.submit(frame(9)) for _ in range(20)]
    pool.close()
    assert all(f.done() and f.exception() is None for f in futures)


def test_a_pool_needs_a_thread() -> None:
    with pytest.raises(ValueError):
        DetectPool(Counting, 0)
