"""Sources sharing one batched detector publish exactly what each publishes with a detector of its own."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from emostream.ingest.worker import IngestWorker
from tests.helpers import wait_for
from tests.support.ingest import ends, faces


def published(
    make_config: Any, run_worker: Callable[..., IngestWorker], rclient: redis.Redis, prefix: str, clip: Path, batch: int
) -> tuple[IngestWorker, dict[str, list[tuple]]]:
    ids = [f"cam{batch}-{i}" for i in range(3)]
    config = make_config(
        sources=[{"id": source, "url": str(clip), "every_nth": 4} for source in ids],
        detector={"backend": "blazeface", "interval": 1},
        ingest={"detect_batch": batch},
    )
    worker = run_worker(config)
    for source in ids:
        [end] = wait_for(lambda source=source: ends(rclient, prefix, source), 120, f"{source} never ended")
        assert end.reason == "eof" and end.frames_analysed == 45, end
    jobs = {i: [(j.seq, j.track, j.box, round(j.score, 5), j.crop.tobytes()) for j in faces(rclient, prefix, s)] for i, s in enumerate(ids)}
    return worker, jobs


def test_three_sources_on_one_batched_detector_publish_what_their_own_detectors_publish(
    make_config: Any, run_worker: Callable[..., IngestWorker], rclient: redis.Redis, prefix: str, demo_clip: Path
) -> None:
    alone_worker, alone = published(make_config, run_worker, rclient, prefix, demo_clip, 0)
    shared_worker, shared = published(make_config, run_worker, rclient, prefix, demo_clip, 8)
    assert alone_worker.shared_detector is None, "detect_batch 0: each source builds its own"
    assert shared_worker.shared_detector is not None and shared_worker.shared_detector.frames == 3 * 45, "every analysed frame went through it"
    assert all(len(jobs) > 40 for jobs in alone.values()), {i: len(j) for i, j in alone.items()}
    assert shared == alone, "the same faces, boxes, scores, track ids and crops per source"
