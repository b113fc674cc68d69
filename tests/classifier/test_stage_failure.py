"""A batch whose model call fails stays pending and is classified later; the overlapping replica goes on."""

from __future__ import annotations

import json
import threading
from typing import Any

import numpy as np
import redis
from prometheus_client import CollectorRegistry

from emostream.classifier.worker import ClassifierWorker
from emostream.infra.modelcard import load_card
from emostream.streams.keys import CLASSIFIER_GROUP
from tests.classifier.slow_replica import SleepyRuntime
from tests.helpers import face_job, wait_for


class FailsOnce(SleepyRuntime):
    """A model whose first forward pass raises (a GPU hiccup, a bad batch)."""

    failed = False

    def _run(self, batch: np.ndarray) -> np.ndarray:
        if not self.failed:
            self.failed = True
            raise RuntimeError("the first forward pass fails")
        return super()._run(batch)


def test_a_failed_batch_is_claimed_back_and_classified_once(make_config: Any, rclient: redis.Redis) -> None:
    # Given a serving replica whose model fails on its first batch
    config = make_config(classifier={"batch_max": 4, "batch_wait_ms": 5, "claim_idle_ms": 200})
    worker = ClassifierWorker(config, CollectorRegistry(), http_port=-1, consumer="c1", runtime=FailsOnce(load_card(None), 4, 0.0))
    jobs = [face_job(seq=seq, size=48) for seq in range(10)]
    for job in jobs:
        rclient.xadd(worker.keys.faces, job.encode())  # type: ignore[arg-type]
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        # When it serves, then every face, the failed batch's too (claimed back after claim_idle_ms), has one event
        wait_for(lambda: rclient.xlen(worker.keys.events("cam1")) >= len(jobs), 30, "every face should get an event")
    finally:
        worker.stop.set()
        thread.join(30)
    entries: Any = rclient.xrange(worker.keys.events("cam1"))
    ids = sorted(json.loads(fields[b"data"])["event_id"] for _, fields in entries)
    assert ids == sorted(job.event_id for job in jobs), "one event per face, the failed batch's included"
    assert worker.runtime.failed and worker.stages["model"].failures == 0, "the failure was met, and the replica recovered"
    assert rclient.xpending(worker.keys.faces, CLASSIFIER_GROUP)["pending"] == 0
    assert not thread.is_alive()
