"""The LiteRT BlazeFace detector against MediaPipe Tasks running the same model: same faces, boxes and keypoints.

Material: the demo clip, the tracking clips (real decoding), and two portraits
(skimage's astronaut, matplotlib's Grace Hopper) pasted at several sizes into
640x480 and 1280x720 frames.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import matplotlib.cbook
import numpy as np
import pytest
from skimage import data as skdata

from emostream.detector import Detection
from emostream.detector.blazeface import BlazeFaceDetector
from emostream.detector.litert import LiteRTBlazeFace
from emostream.ingest.sources import VideoSource
from emostream.ingest.tracking.geometry import iou

TRACKING = Path(__file__).resolve().parents[1] / "data" / "tracking"
KEYPOINT_PX = 3.0


def portraits() -> list[np.ndarray]:
    """RGB portraits: the astronaut and Grace Hopper."""
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        hopper = cv2.cvtColor(cv2.imdecode(np.frombuffer(f.read(), np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return [skdata.astronaut(), hopper]


def pasted(size: tuple[int, int], portrait: np.ndarray, side: int, at: tuple[float, float]) -> np.ndarray:
    """``portrait`` scaled to ``side`` px wide on a mid-grey frame of ``size`` (w, h), its top-left at ``at`` (fractions)."""
    width, height = size
    frame = np.full((height, width, 3), 110, np.uint8)
    tall = round(side * portrait.shape[0] / portrait.shape[1])
    small = cv2.resize(portrait, (side, tall), interpolation=cv2.INTER_AREA)
    x, y = round(at[0] * (width - side)), round(at[1] * (height - tall))
    frame[y : y + tall, x : x + side] = small
    return frame


def rgb_frames(demo_clip: Path) -> Iterator[tuple[str, np.ndarray]]:
    for path in [demo_clip, *sorted(TRACKING.glob("*.mp4"))]:
        for index, frame in enumerate(VideoSource(str(path)).frames()):
            if index % 12 == 0:
                yield f"{path.stem}#{index}", np.ascontiguousarray(frame.image[:, :, ::-1])
    for p, portrait in enumerate(portraits()):
        yield f"portrait{p}", portrait
        for size in [(640, 480), (1280, 720)]:
            for side in (120, 200, 320, 480):
                for at in [(0.0, 0.0), (0.5, 0.5), (1.0, 1.0)]:
                    if round(side * portrait.shape[0] / portrait.shape[1]) <= size[1]:
                        yield f"portrait{p}@{side}px{at}in{size}", pasted(size, portrait, side, at)


def disagreement(ref: list[Detection], mine: list[Detection]) -> str | None:
    """What differs between two detectors' faces in one frame (greedy best-IoU matching), or None."""
    if len(ref) != len(mine):
        return f"{len(mine)} faces against MediaPipe's {len(ref)}"
    left = list(mine)
    for a in ref:
        b = max(left, key=lambda d: iou(a.box, d.box))
        overlap = iou(a.box, b.box)
        if overlap < 0.9:
            return f"box {b.box} against {a.box}: IoU {overlap:.2f}"
        assert a.keypoints is not None and b.keypoints is not None, "both BlazeFace backends give keypoints"
        worst = max(float(np.hypot(pa[0] - pb[0], pa[1] - pb[1])) for pa, pb in zip(a.keypoints, b.keypoints, strict=True))
        if worst > KEYPOINT_PX:
            return f"keypoints up to {worst:.1f} px apart"
        left.remove(b)
    return None


@pytest.mark.parametrize("kind", ["short", "full"])
def test_litert_blazeface_agrees_with_mediapipe_tasks(demo_clip: Path, kind: str) -> None:
    frames = list(rgb_frames(demo_clip))
    faces = 0
    problems = []
    with BlazeFaceDetector(kind, 0.5) as ref, LiteRTBlazeFace(kind, 0.5) as mine:
        for name, frame in frames:
            expected = ref.detect_native(frame)
            faces += len(expected)
            problem = disagreement(expected, mine.detect_native(frame))
            if problem:
                problems.append(f"{name}: {problem}")
    assert faces >= len(frames) // 2, f"MediaPipe {kind} found only {faces} faces in {len(frames)} frames: the material shows too few"
    assert not problems, f"{len(problems)} of {len(frames)} frames differ: " + "; ".join(problems[:5])


def test_a_batch_of_frames_gives_what_each_frame_gives_alone(demo_clip: Path) -> None:
    frames = [frame for _, frame in rgb_frames(demo_clip)][::9]  # clip frames and pasted portraits of both sizes, mixed
    assert len({f.shape for f in frames}) >= 3, "the batch mixes frame sizes"
    with LiteRTBlazeFace("auto", 0.5) as batched, LiteRTBlazeFace("auto", 0.5, batch=False) as alone:
        together = batched.detect_many(frames)
        one_by_one = [alone.detect_native(f) for f in frames]
    assert sum(map(len, together)) > 0, "the frames show faces"
    for i, (a, b) in enumerate(zip(together, one_by_one, strict=True)):
        assert [d.box for d in a] == [d.box for d in b], f"frame {i}: the batch changed the boxes"
        assert [d.score for d in a] == pytest.approx([d.score for d in b], abs=1e-5), f"frame {i}: the batch changed the scores"
