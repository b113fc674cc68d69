"""Reading what an ingest worker left in Redis and in its metrics (shared by tests/ingest)."""

from __future__ import annotations

import redis

from emostream.ingest.worker import IngestWorker
from emostream.streams.facejob import FaceJob
from emostream.streams.keys import Keys
from emostream.streams.lifecycle import LifecycleMessage, SessionEnd, decode_lifecycle


def lifecycle(client: redis.Redis, prefix: str) -> list[LifecycleMessage]:
    return [decode_lifecycle(fields) for _, fields in client.xrange(Keys(prefix).lifecycle)]


def ends(client: redis.Redis, prefix: str, source: str) -> list[SessionEnd]:
    return [m for m in lifecycle(client, prefix) if isinstance(m, SessionEnd) and m.source == source]


def faces(client: redis.Redis, prefix: str, source: str | None = None) -> list[FaceJob]:
    jobs = [FaceJob.decode(fields) for _, fields in client.xrange(Keys(prefix).faces)]
    return [j for j in jobs if source is None or j.source == source]


def metric(worker: IngestWorker, name: str, **labels: str) -> float:
    return worker.registry.get_sample_value(name, labels) or 0.0


def errors(worker: IngestWorker, source: str, kind: str) -> float:
    return metric(worker, "emostream_ingest_source_errors_total", source=source, kind=kind)
