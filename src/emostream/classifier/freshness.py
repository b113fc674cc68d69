"""Live faces older than their freshness bound are dropped by the classifier, not classified.

Ingest stamps each live face with ``max_age_ms`` (``ingest.max_queue_age_ms``;
files carry 0 and are never dropped). A classifier that reaches a face later
than that since its capture would publish an event nobody watching a camera
wants any more, while fresher faces wait behind it. So, per batch:

- before inference, a face whose age plus the expected inference time already
  exceeds its bound is dropped (no work spent on it);
- after inference, a face that became too old meanwhile is dropped too: that
  wastes its share of the forward pass, but it is what makes the bound hold
  for every published event, not just on average.

Details at :class:`Freshness`.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import TypeVar

import redis

from emostream.classifier.commit import DROP_REASON
from emostream.infra.metrics import ClassifierMetrics
from emostream.streams.facejob import FaceJobHeader

REASON = DROP_REASON
SMOOTHING = 0.2  # weight of the newest batch in the inference time estimate

K = TypeVar("K")


class Freshness:
    """Each replica also advertises its recent forward-pass time once a second
    (``<prefix>:classifiers:stats``): ingest subtracts it from the bound before
    deciding how long a face may wait in the queue (see ``ingest/policy.py``).

    Dropped faces are acknowledged and deleted like classified ones, and announced
    to the aggregator with a :class:`~emostream.streams.lifecycle.FacesDropped` message in
    the same commit (``classifier.commit``), counted per source with the reason in
    ``emostream_classifier_faces_dropped_total``.
    """

    def __init__(self, metrics: ClassifierMetrics) -> None:
        self.metrics = metrics
        self.expected_inference_s = 0.0
        self._seen: set[str] = set()

    def observe(self, inference_s: float) -> None:
        """Learn how long a forward pass takes, for the check before the next one."""
        self.expected_inference_s += SMOOTHING * (inference_s - self.expected_inference_s)

    @staticmethod
    def expired(job: FaceJobHeader, when: float) -> bool:
        """Whether the face is older than its bound at wall time ``when`` (never for files)."""
        return job.max_age_ms > 0 and (when - job.captured_ts) * 1000.0 > job.max_age_ms

    def before_inference(self, jobs: Sequence[tuple[K, FaceJobHeader]], now: float) -> tuple[list[tuple[K, FaceJobHeader]], list[tuple[K, FaceJobHeader]]]:
        """(fresh, stale) of (key, header) pairs: stale faces would be too old by the time the expected forward pass ends."""
        fresh: list[tuple[K, FaceJobHeader]] = []
        stale: list[tuple[K, FaceJobHeader]] = []
        when = now + self.expected_inference_s
        for item in jobs:
            self._initialise(item[1].source)
            (stale if self.expired(item[1], when) else fresh).append(item)
        return fresh, stale

    def advertise(self, client: redis.Redis, key: str, consumer: str) -> None:
        """Tell ingest how long a forward pass takes here, so it queues only faces that can still make their bound."""
        if self.expected_inference_s > 0:
            client.hset(key, consumer, json.dumps({"inference_ms": round(self.expected_inference_s * 1000.0, 1), "at": time.time()}))

    def _initialise(self, source: str) -> None:
        """Show the per-source drop counter at 0 from the first face of a source on, so a rate() has a start."""
        if source not in self._seen:
            self._seen.add(source)
            self.metrics.dropped.labels(source, REASON)

    def count(self, stale: Sequence[tuple[object, FaceJobHeader]]) -> None:
        """After the commit went through: the metrics."""
        per_source: dict[str, int] = defaultdict(int)
        for _, job in stale:
            per_source[job.source] += 1
        for source, n in per_source.items():
            self.metrics.dropped.labels(source, REASON).inc(n)
        if stale:
            self.metrics.faces.labels("dropped").inc(len(stale))
