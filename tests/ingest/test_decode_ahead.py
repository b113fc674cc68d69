"""A file decoded and detected ahead on its own thread publishes exactly what the one-thread loop publishes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from emostream.infra.cpufeatures import usable_cores
from emostream.ingest.worker import IngestWorker
from tests.helpers import wait_for
from tests.support.ingest import ends, faces


def published(
    make_config: Any, run_worker: Callable[..., IngestWorker], rclient: redis.Redis, prefix: str, clip: Path, ahead: int,
    detector: dict[str, Any] | None = None, threads: int = 1,
) -> tuple[list[tuple], IngestWorker]:
    source = f"demo{ahead}x{threads}"
    detector = detector if detector is not None else {"backend": "blazeface"}  # on_lost on (the default): its extra detections leave the schedule as it was
    config = make_config(
        sources=[{"id": source, "url": str(clip), "every_nth": 3}], detector=detector, ingest={"decode_ahead": ahead, "detect_threads": threads}
    )
    worker = run_worker(config)
    [end] = wait_for(lambda: ends(rclient, prefix, source), 120, f"the session with decode_ahead {ahead}, detect_threads {threads} never ended")
    assert end.reason == "eof" and end.frames_analysed == 60, end
    return [(j.seq, j.pts, j.track, j.box, round(j.score, 5), j.crop.tobytes()) for j in faces(rclient, prefix, source)], worker


def test_decoding_ahead_publishes_the_same_faces_tracks_and_crops_as_the_single_thread(
    make_config: Any, run_worker: Callable[..., IngestWorker], rclient: redis.Redis, prefix: str, demo_clip: Path
) -> None:
    inline, _ = published(make_config, run_worker, rclient, prefix, demo_clip, 0)
    ahead, _ = published(make_config, run_worker, rclient, prefix, demo_clip, 3)
    assert len(inline) > 50, f"the demo clip shows about two faces a frame: {len(inline)} published"
    assert ahead == inline, "the same frames, boxes, track ids and crops, in the same order"


def test_detection_frames_detected_side_by_side_publish_the_same_as_one_decode_thread(
    make_config: Any, run_worker: Callable[..., IngestWorker], rclient: redis.Redis, prefix: str, demo_clip: Path
) -> None:
    """The default detector (YuNet, every third frame, a track lost detected on its frame) through the pool of two threads."""
    one, alone = published(make_config, run_worker, rclient, prefix, demo_clip, 2, detector={}, threads=1)
    two, pooled = published(make_config, run_worker, rclient, prefix, demo_clip, 2, detector={}, threads=2)
    assert alone.detect_pool is None
    assert pooled.detect_pool is not None and sum(pooled.detect_pool.served) >= 60 // 3, "the frames went through the pool"
    assert len(one) > 50, f"the demo clip shows about two faces a frame: {len(one)} published"
    assert two == one, "the same frames, boxes, track ids and crops, in the same order"


def test_detection_threads_are_built_for_files_only_and_divided_among_a_roles_processes(
    make_config: Any, run_worker: Callable[..., IngestWorker], rclient: redis.Redis, prefix: str, demo_clip: Path
) -> None:
    # A worker of cameras (a file read as one) detects on each source's own thread and builds no detection threads,
    camera = make_config(sources=[{"id": "cam", "url": str(demo_clip), "live": True, "loop": True}], ingest={"detect_threads": 2})
    worker = run_worker(camera)
    wait_for(lambda: faces(rclient, prefix, "cam"), 60, "the camera's faces were never published")
    assert worker.detect_pool is None
    # and by default (0) a child of an ingest role of as many processes as cores gets one core's worth: no pool either.
    files = make_config(sources=[{"id": "f", "url": str(demo_clip)}])
    cores = usable_cores()
    assert IngestWorker(files, share=(0, cores))._detect_pool() is None
    if cores >= 2:
        pool = IngestWorker(files)._detect_pool()
        assert pool is not None and len(pool.detectors) == cores
        pool.close()
