"""Helpers of the hostile tests: a whole session on a real Redis, and a metric's value."""

from __future__ import annotations

import redis

from emostream.aggregator.worker import AggregatorWorker
from tests.aggregator.support import end, event, publish, start


def sample(worker: AggregatorWorker, name: str, **labels: str) -> float:
    return worker.registry.get_sample_value(name, labels) or 0.0


def session(rclient: redis.Redis, worker: AggregatorWorker, name: str, faces: int = 3) -> None:
    start(rclient, worker.keys, name)
    publish(rclient, worker.keys, [event(name, seq, 1, "happy") for seq in range(faces)])
    end(rclient, worker.keys, name, faces, faces)
