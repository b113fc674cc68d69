"""Track confirmation on generated clips, through a real ingest worker: real decoding, detection, tracking, Redis.

The clips come from ``benchmarks/scenes/testclips.py`` (FER2013 faces; skipped
without the data or its cached face pool). The detector is the configured
default: what a user gets.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
import redis

from benchmarks.scenes import generate, testclips
from benchmarks.scenes.evaluate import Report, match_frame
from benchmarks.scenes.faces import fer_dir
from emostream.config import Config
from emostream.detector import make_detector
from emostream.ingest.tracking.detections import confident_from, detector_config
from emostream.ingest.worker import IngestWorker
from tests.helpers import wait_for
from tests.support.ingest import ends, faces, metric

needs_fer = pytest.mark.skipif(
    not (fer_dir() / "fer2013new.csv").is_file() and not (generate.CACHE / "faces-tune.npz").is_file(),
    reason="no FER2013/FER+ data (../shared/data/fer2013 or EMOSTREAM_FER_DIR) and no cached face pool",
)


def ingest_file(make_config: Any, run_worker: Callable[..., IngestWorker], client: redis.Redis, prefix: str, path: Path) -> tuple[Config, IngestWorker]:
    config = make_config(sources=[{"id": "clip", "url": str(path)}])
    worker = run_worker(config)
    wait_for(lambda: ends(client, prefix, "clip"), 120, "the clip's session never ended")
    return config, worker


def confident_boxes(config: Config, path: Path) -> list[int]:
    """Per frame, the detections ingest would track as faces (confident, big enough), from the same detector."""
    det = config.detector
    counts = []
    with make_detector(detector_config(det, config.tracker)) as detector, av.open(str(path)) as container:
        for frame in container.decode(video=0):
            image = frame.to_ndarray(format="rgb24")
            image = image if detector.colour == "rgb" else np.ascontiguousarray(image[:, :, ::-1])
            found = detector.detect_native(image)
            counts.append(sum(1 for d in found if d.score >= confident_from(det) and min(d.w, d.h) >= det.min_face_px))
    return counts


def faces_counted(worker: IngestWorker, outcome: str) -> float:
    """``emostream_ingest_faces_total`` of the clip for ``outcome``, whatever the detector label."""
    return sum(s.value for family in worker.registry.collect() for s in family.samples
               if s.name == "emostream_ingest_faces_total" and s.labels["source"] == "clip" and s.labels["outcome"] == outcome)


@needs_fer
def test_faceless_text_publishes_nothing_and_counts_every_unconfirmed_face(
    make_config: Any, run_worker: Callable[..., IngestWorker], rclient: redis.Redis, prefix: str, tmp_path: Path
) -> None:
    clip = testclips.faceless_text(tmp_path, seconds=4.0)
    config, worker = ingest_file(make_config, run_worker, rclient, prefix, clip.path)
    [end] = ends(rclient, prefix, "clip")
    assert faces(rclient, prefix) == [] and end.faces == 0, "no face job (so no event) for a faceless clip"
    # Every confident box the detector gave on the clip went to a tentative track: counted, none published.
    expected = sum(confident_boxes(config, clip.path))
    unconfirmed = faces_counted(worker, "unconfirmed")
    assert unconfirmed == expected, f"{expected} confident boxes on the clip, {unconfirmed} counted as unconfirmed faces"
    tracks = metric(worker, "emostream_ingest_tracks_total", source="clip", outcome="unconfirmed")
    assert (tracks >= 1) == (expected >= 1), f"{expected} unconfirmed faces in {tracks} unconfirmed tracks"
    assert metric(worker, "emostream_ingest_tracks_total", source="clip", outcome="confirmed") == 0


@needs_fer
def test_a_group_of_small_faces_gives_one_confirmed_track_per_person(
    make_config: Any, run_worker: Callable[..., IngestWorker], rclient: redis.Redis, prefix: str, tmp_path: Path
) -> None:
    clip = testclips.group(tmp_path, people=5, seconds=2.0, sizes=(40, 60))
    _, worker = ingest_file(make_config, run_worker, rclient, prefix, clip.path)
    jobs = faces(rclient, prefix)
    truth = clip.truth["faces"]
    owner: dict[int, set[str]] = {}
    for job in jobs:
        frame = round(job.offset * clip.truth["fps"])
        reps = [Report(tuple(float(v) for v in job.box))]  # type: ignore[arg-type]
        for i, _ in match_frame(truth[frame], reps):
            owner.setdefault(job.track, set()).add(truth[frame][i]["id"])
    assert all(len(people) == 1 for people in owner.values()), f"a track holds several people: {owner}"
    people_of = {next(iter(p)) for p in owner.values()}
    assert people_of == clip.people, f"people without a track: {clip.people - people_of}"
    assert len(owner) == len(clip.people) and {j.track for j in jobs} == set(owner), f"one track per person expected: {owner}"
    assert sorted(owner) == list(range(1, len(owner) + 1)), f"published ids run 1..n without gaps: {sorted(owner)}"
    assert metric(worker, "emostream_ingest_tracks_total", source="clip", outcome="confirmed") == len(owner)
