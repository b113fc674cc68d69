"""One detector shared by many threads: each gets its own frame's faces, frames that wait together go as one batch."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path

import av
import numpy as np
import pytest

from emostream.detector import Detection
from emostream.detector.batching import BatchingDetector
from emostream.detector.litert import LiteRTBlazeFace, batch_sizes


def demo_frames(demo_clip: Path, count: int) -> list[np.ndarray]:
    frames = []
    with av.open(str(demo_clip)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i % 5 == 0:
                frames.append(frame.to_ndarray(format="rgb24"))
            if len(frames) == count:
                break
    return frames


@pytest.mark.parametrize("range_", ["short", "auto"])
def test_threads_sharing_one_detector_get_exactly_the_faces_their_own_detector_finds(demo_clip: Path, range_: str) -> None:
    frames = demo_frames(demo_clip, 24)
    with LiteRTBlazeFace(range_) as alone:
        expected = [alone.detect_native(f) for f in frames]
    assert sum(map(len, expected)) >= 24, "the demo clip shows about two faces a frame"
    shared = BatchingDetector(LiteRTBlazeFace(range_), max_batch=8)
    got: dict[int, list[Detection]] = {}

    def source(first: int) -> None:
        handle = shared.handle()
        for i in range(first, len(frames), 6):
            got[i] = handle.detect_native(frames[i])
        handle.close()  # a source's handle: the shared detector goes on

    threads = [threading.Thread(target=source, args=(k,)) for k in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    shared.close()
    assert shared.frames == len(frames) and shared.batches < len(frames), "six threads at once: some frames shared a batch"
    for i, want in enumerate(expected):
        assert [d.box for d in got[i]] == [d.box for d in want], f"frame {i}: boxes differ from the detector's own"
        assert np.allclose([d.score for d in got[i]], [d.score for d in want], atol=1e-5), f"frame {i}: scores differ"


class Slow:
    """A detector whose batches take 50 ms and that records their sizes (or fails)."""

    name, colour = "slow", "rgb"

    def __init__(self, fail: bool = False) -> None:
        self.sizes: list[int] = []
        self.fail = fail
        self.closed = False

    def detect_many(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        time.sleep(0.05)
        self.sizes.append(len(images))
        if self.fail:
            raise RuntimeError("model fault")
        return [[Detection(int(image[0, 0, 0]), 0, 10, 10, 0.9)] for image in images]

    def close(self) -> None:
        self.closed = True


def test_frames_arriving_while_the_model_runs_make_the_next_batch_up_to_max_batch() -> None:
    slow = Slow()
    shared = BatchingDetector(slow, max_batch=4)
    results: dict[int, int] = {}

    def source(k: int) -> None:
        results[k] = shared.detect(np.full((4, 4, 3), k, np.uint8))[0].x

    first = threading.Thread(target=source, args=(0,))
    first.start()
    time.sleep(0.02)  # the first frame is in the model, alone: nothing waited for more
    rest = [threading.Thread(target=source, args=(k,)) for k in range(1, 7)]
    for thread in rest:
        thread.start()
    for thread in [first, *rest]:
        thread.join(5)
    shared.close()
    assert results == {k: k for k in range(7)}, "each thread gets its own frame's detections"
    assert slow.sizes[0] == 1 and max(slow.sizes) == 4 and sum(slow.sizes) == 7, slow.sizes
    assert slow.closed, "closing the shared detector releases the model"


def test_a_failing_batch_fails_each_of_its_frames_and_the_detector_keeps_serving() -> None:
    slow = Slow(fail=True)
    shared = BatchingDetector(slow, max_batch=4)
    with pytest.raises(RuntimeError, match="model fault"):
        shared.detect(np.zeros((4, 4, 3), np.uint8))
    slow.fail = False
    assert shared.detect(np.full((4, 4, 3), 9, np.uint8))[0].x == 9
    shared.close()


@pytest.mark.parametrize(("views", "sizes"), [(0, []), (1, [1]), (6, [4, 2]), (7, [4, 2, 1]), (8, [8]), (13, [8, 4, 1])])
def test_views_go_in_batches_of_the_allocated_sizes_with_no_padding_view(views: int, sizes: list[int]) -> None:
    assert batch_sizes(views) == sizes
