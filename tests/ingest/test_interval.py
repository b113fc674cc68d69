"""``detector.interval``: the detector on every k-th analysed frame, confirmed tracks carried to the frames between.

Real decoding, detection, tracking and Redis: the demo clip (two people, 180
frames) through the ingest worker, and the tracking clips through the tracker
as ingest feeds it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from benchmarks.tracking_eval import SCENARIOS, detect, identities, load_clip, run_carried
from emostream.ingest.tracking.tracker import TrackerParams
from emostream.ingest.worker import IngestWorker
from tests.helpers import wait_for
from tests.support.ingest import ends, faces


def published(make_config: Any, run_worker: Callable[..., IngestWorker], rclient: redis.Redis, prefix: str, clip: Path, interval: int) -> tuple[Any, list[Any]]:
    source = f"demo-k{interval}"
    run_worker(make_config(sources=[{"id": source, "url": str(clip)}], detector={"interval": interval}))
    [end] = wait_for(lambda: ends(rclient, prefix, source), 120, f"the session with interval {interval} never ended")
    return end, faces(rclient, prefix, source)


def test_with_interval_3_the_frames_between_detections_publish_the_carried_faces_once_each(
    make_config: Any, run_worker: Callable[..., IngestWorker], rclient: redis.Redis, prefix: str, demo_clip: Path
) -> None:
    every, every_jobs = published(make_config, run_worker, rclient, prefix, demo_clip, 1)
    end, jobs = published(make_config, run_worker, rclient, prefix, demo_clip, 3)
    assert end.reason == "eof" and end.frames_analysed == 180, end
    assert len(jobs) == end.faces, f"{end.faces} faces announced, {len(jobs)} published"
    twice = [key for key, n in Counter((j.seq, j.track) for j in jobs).items() if n > 1]
    assert not twice, f"a track published twice in one frame: {twice[:5]}"
    carried = [j for j in jobs if j.seq % 3]
    assert len(carried) >= 0.9 * 2 * len([j for j in jobs if j.seq % 3 == 0]), (
        f"frames between detections should carry the faces of the detection frame: {len(carried)} carried"
    )
    assert len(jobs) >= 0.95 * every.faces, f"interval 3 published {len(jobs)} faces, interval 1 {every.faces}"
    assert {j.track for j in jobs} == {j.track for j in every_jobs}, "the same people, the same ids"
    on_detection_frames = {(j.seq, j.track) for j in jobs if j.seq % 3 == 0}
    assert on_detection_frames <= {(j.seq, j.track) for j in every_jobs}, "detection frames publish what interval 1 does"


@pytest.fixture(scope="module")
def tracking_clips() -> dict[str, Any]:
    return {name: detect(load_clip(name)) for name in SCENARIOS}


@pytest.mark.parametrize("name", SCENARIOS)
def test_carried_frames_never_give_a_track_a_second_person(tracking_clips: dict[str, Any], name: str) -> None:
    clip = tracking_clips[name]
    for interval in (2, 3, 5):
        run = run_carried(clip, TrackerParams(), interval)
        mixed = {track: sorted(people) for track, people in identities(clip, run).items() if len(people) > 1}
        assert not mixed, f"{name}, interval {interval}: tracks given to several people: {mixed}"
        assert sum(len(h) for i, h in zip(run.indices, run.hyps, strict=True) if i % interval) > 0, "nothing was carried"


def test_a_session_resumed_at_a_detection_frame_continues_with_the_same_ids(tracking_clips: dict[str, Any]) -> None:
    """The checkpoint holds no anchors: a restart detects on its first frame, then carries as before."""
    from emostream.config import TrackerConfig
    from emostream.ingest import checkpoint
    from emostream.ingest.session import IngestSession
    from emostream.ingest.tracking import carry
    from emostream.ingest.tracking.detections import track_faces

    clip, interval, cut = tracking_clips["swap"], 3, 45  # frame 45: a detection frame, astronaut gone, hopper seated
    cfg = TrackerConfig(reid_window_s=10.0)

    def step(session: IngestSession, index: int, since_restart: int) -> list[tuple[tuple[int, int, int, int], int]]:
        frame, now = clip.frames[index], index / clip.fps
        if since_restart % interval:
            found = carry.carry(session.tracker, frame, now, "bgr", 0.6)
        else:
            found = track_faces(session.tracker, frame, clip.detections[index], 0.5, now)
            filled = carry.fill(session.tracker, frame, now, "bgr", 0.6, clip.detections[index], found)
            found += filled
            carry.remember(session.tracker, frame, found, "bgr", frozenset(t for _, t in filled))
        return [(d.box, track) for d, track in found]

    whole = IngestSession("seat", cfg, 0.0)
    expected = [step(whole, i, i) for i in range(len(clip.frames))]
    first = IngestSession("seat", cfg, 0.0)
    for i in range(cut):
        step(first, i, i)
    body = json.loads(checkpoint.snapshot(first, cut - 1, "file.mp4", live=False))
    resumed = checkpoint.restore(body, "seat", cfg, 0.0)
    got = [step(resumed, i, i - cut) for i in range(cut, len(clip.frames))]
    assert got == expected[cut:], "the resumed session diverged from the uninterrupted one"
    assert {t for frame in got for _, t in frame} == {t for frame in expected[cut:] for _, t in frame} != set()
