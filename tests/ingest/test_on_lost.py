"""``detector.on_lost``: a frame between detection frames where a followed face cannot be carried is detected after all.

Real decoding, the default detector and tracking: the tracking clip ``swap``
(one seat, a hard cut from one person to another in the same place) re-encoded
from its third frame, so the cut falls on analysed frame 28, between the
detection frames 27 and 30 of ``detector.interval`` 3. Through the ingest
worker and Redis for what is published, and through a source runner with a
counting detector (a recording publisher) for when the detector runs.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
import redis
from prometheus_client import CollectorRegistry

from benchmarks.tracking_eval import CLIPS
from emostream.config import Config, parse_config
from emostream.detector import Detection, Detector, make_detector
from emostream.infra.metrics import IngestMetrics
from emostream.infra.modelcard import load_card
from emostream.ingest.runner import SourceRunner
from emostream.ingest.runner_parts import RunnerParts, open_video
from emostream.ingest.tracking.detections import detector_config
from emostream.ingest.worker import IngestWorker
from emostream.streams.facejob import FaceJob
from tests.helpers import wait_for
from tests.ingest.fakes import FakeClock, FakeProbe, FakePublisher
from tests.support.ingest import ends, faces

CUT = 28  # the analysed frame where the second person replaces the first (the clip's frame 30)


def reencode(path: Path, first: int, last: int | None = None) -> Path:
    """The swap clip's frames ``first`` to ``last`` (exclusive) as an H.264 file of their own."""
    with av.open(str(CLIPS / "swap.mp4")) as src:
        frames = [f.to_ndarray(format="rgb24") for f in src.decode(video=0)][first:last]
    with av.open(str(path), "w") as dst:
        stream = dst.add_stream("libx264", rate=15)
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        stream.options = {"crf": "18"}
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")):
                dst.mux(packet)
        for packet in stream.encode():
            dst.mux(packet)
    return path


@pytest.fixture(scope="module")
def cut_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return reencode(tmp_path_factory.mktemp("on-lost") / "cut.mp4", 2, 50)


@pytest.fixture(scope="module")
def still_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return reencode(tmp_path_factory.mktemp("on-lost") / "still.mp4", 0, 30)  # the first person alone, nearly still


def run_clip(make_config: Any, run_worker: Callable[..., IngestWorker], client: redis.Redis, prefix: str, clip: Path,
             on_lost: bool) -> tuple[Any, list[FaceJob]]:
    run_prefix = f"{prefix}{int(on_lost)}"
    config = make_config(redis={"prefix": run_prefix}, sources=[{"id": "seat", "url": str(clip)}], detector={"interval": 3, "on_lost": on_lost})
    run_worker(config)
    [end] = wait_for(lambda: ends(client, run_prefix, "seat"), 120, "the clip's session never ended")
    return end, faces(client, run_prefix, "seat")


def newcomer(jobs: list[FaceJob]) -> tuple[int, int]:
    """(track id, first analysed frame) of the first track that is not the first person's."""
    first = min(jobs, key=lambda j: j.seq).track
    later = [j for j in jobs if j.track != first]
    assert later, f"only track {first} was published: the second person never was"
    start = min(later, key=lambda j: j.seq)
    return start.track, start.seq


def test_a_person_replaced_in_place_between_detection_frames_is_published_from_the_cut(
    make_config: Any, run_worker: Callable[..., IngestWorker], rclient: redis.Redis, prefix: str, cut_clip: Path
) -> None:
    end, jobs = run_clip(make_config, run_worker, rclient, prefix, cut_clip, on_lost=True)
    _, without = run_clip(make_config, run_worker, rclient, prefix, cut_clip, on_lost=False)
    assert {j.seq for j in jobs if j.seq < CUT} == set(range(CUT)), "the first person is published on every frame before the cut"
    track, seq = newcomer(jobs)
    assert seq == CUT, f"with on_lost the second person is published from the cut (analysed frame {CUT}), not {seq}"
    assert all(j.seq >= CUT for j in jobs if j.track == track) and track > min(j.track for j in jobs if j.seq < CUT), "a new track id"
    _, seq_without = newcomer(without)
    assert seq_without == 30, f"without on_lost the second person waits for the detection frame 30, not {seq_without}"
    # Exactly once: one event per published face, the redetected frame's face not published twice (the carried one and the detected).
    assert len(jobs) == end.faces, f"{end.faces} faces announced, {len(jobs)} published"
    twice = [key for key, n in Counter((j.seq, j.track) for j in jobs).items() if n > 1]
    assert not twice, f"a track published twice in one frame: {twice}"
    assert [j.track for j in jobs if j.seq == CUT] == [track], "on the cut: the newcomer alone (the first person's track not carried onto them)"
    assert max(Counter(j.seq for j in jobs).values()) == 1, "one person on screen, at most one face a frame"


class Counting(Detector):
    """The real detector, with the analysed frame each call was made on (the publisher's frames so far: no decode thread)."""

    colour = "bgr"

    def __init__(self, inner: Detector, publisher: FakePublisher) -> None:
        assert inner.colour == "bgr"
        self.inner, self.publisher, self.name = inner, publisher, inner.name
        self.frames: list[int] = []

    def detect_native(self, image: np.ndarray) -> list[Detection]:
        self.frames.append(len(self.publisher.frames))
        return self.inner.detect_native(image)

    def close(self) -> None:
        self.inner.close()


def run_counted(clip: Path, on_lost: bool) -> tuple[Counting, FakePublisher]:
    """The clip through a source runner on this thread (decode_ahead 0): the frames the detector ran on, and what was published."""
    config: Config = parse_config({"sources": [{"id": "seat", "url": str(clip)}], "detector": {"interval": 3, "on_lost": on_lost}}, "test")
    clock = FakeClock()
    publisher = FakePublisher(clock)
    counting = Counting(make_detector(detector_config(config.detector, config.tracker)), publisher)
    parts = RunnerParts(
        config=config, card=load_card(None), publisher=publisher, probe=FakeProbe(clock), metrics=IngestMetrics(CollectorRegistry()),
        make_detector=lambda: counting, open_source=functools.partial(open_video, config=config), clock=clock,
    )
    SourceRunner(config.sources[0], parts).run()
    return counting, publisher


def test_a_still_face_carried_costs_no_extra_detection(still_clip: Path) -> None:
    counting, publisher = run_counted(still_clip, on_lost=True)
    assert counting.frames == list(range(0, 30, 3)), f"detections on {counting.frames}: a face carried on every frame needs none between"
    published = [i for i, (_, _, jobs) in enumerate(publisher.frames) if jobs]
    assert published == list(range(30)), f"the face is published on every frame (carried between detections): {published}"


def test_a_frame_detected_for_a_lost_face_leaves_the_interval_as_it_was(cut_clip: Path) -> None:
    # Outside the count, so that a file's detection frames do not depend on how far its decode thread had got.
    counting, publisher = run_counted(cut_clip, on_lost=True)
    assert counting.frames[:12] == sorted([*range(0, CUT + 3, 3), CUT]), f"detections on {counting.frames}"
    assert all(jobs for _, _, jobs in publisher.frames[CUT:]), "the newcomer is published from the cut on"
    without, _ = run_counted(cut_clip, on_lost=False)
    assert without.frames == list(range(0, 48, 3)), f"without on_lost every third frame only: {without.frames}"


def test_a_frame_detected_after_following_gives_what_a_due_detection_frame_gives() -> None:
    """``carry.follow`` writes nothing: detecting after it leaves the tracker exactly as detecting straight away does."""
    import copy

    from benchmarks.tracking_eval import detect, load_clip
    from emostream.ingest.tracking import carry
    from emostream.ingest.tracking.detections import track_faces
    from emostream.ingest.tracking.tracker import Tracker

    clip, interval = detect(load_clip("swap")), 4  # the cut on frame 30: between the detection frames 28 and 32
    tracker = Tracker()

    def detection_frame(t: Tracker, index: int) -> list[tuple[Detection, int]]:
        frame, now = clip.frames[index], index / clip.fps
        found = track_faces(t, frame, clip.detections[index], 0.5, now)
        filled = carry.fill(t, frame, now, "bgr", 0.6, clip.detections[index], found)
        carry.remember(t, frame, found + filled, "bgr", frozenset(i for _, i in filled))
        return found + filled

    for index in range(30):
        if index % interval:
            carry.carry(tracker, clip.frames[index], index / clip.fps, "bgr", 0.6)
        else:
            detection_frame(tracker, index)
    straight = copy.deepcopy(tracker)
    followed = carry.follow(tracker, clip.frames[30], 30 / clip.fps, "bgr", 0.6)
    assert followed.lost, "the first person's track is lost on the cut"
    assert [(d.box, i) for d, i in detection_frame(tracker, 30)] == [(d.box, i) for d, i in detection_frame(straight, 30)]
    assert tracker.state() == straight.state() and tracker.tally == straight.tally
    anchors = [(t.id, t.anchor.detection, t.anchor.patch.tobytes()) for t in tracker.tracks if t.anchor is not None]
    assert anchors == [(t.id, t.anchor.detection, t.anchor.patch.tobytes()) for t in straight.tracks if t.anchor is not None] != []
    assert [(t.last is None or t.last.tobytes(), t.predicted) for t in tracker.tracks] == [
        (t.last is None or t.last.tobytes(), t.predicted) for t in straight.tracks
    ]
