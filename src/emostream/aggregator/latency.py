"""The latency histograms of counted events, observed a batch at a time.

``Histogram.observe`` walks the bucket bounds for every value and takes a lock
per bucket; at 20,000 events/s and five stages per event that was a tenth of
the aggregator's time. :func:`observe_many` sorts a batch into buckets with
``bisect`` and adds each bucket's count once. It uses the histogram child's
bucket values (``_upper_bounds``, ``_buckets``, ``_sum``), which
prometheus_client has kept since 0.4; ``tests/aggregator/test_latency.py``
checks it against ``observe`` so an upgrade that changes them fails there.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Sequence
from typing import Any

from emostream.aggregator.intake import epoch
from emostream.streams.events import EmotionEvent

STAGES = ("decode_detect", "queue", "inference", "capture_to_publish")  # from each event's latency_ms
AGGREGATE_STAGE = "capture_to_aggregate"  # frame capture until counted here


def observe_many(child: Any, values: Sequence[float]) -> None:
    """``child.observe(v)`` for every ``v`` of ``values``, one increment per bucket."""
    if not values:
        return
    bounds = child._upper_bounds
    for index, n in Counter(bisect_left(bounds, v) for v in values).items():
        child._buckets[index].inc(n)
    child._sum.inc(sum(values))


class EventLatency:
    """Observes the stages of a batch of counted events in ``emostream_aggregator_latency_seconds``."""

    def __init__(self, histogram: Any) -> None:
        self.children = {stage: histogram.labels(stage) for stage in (*STAGES, AGGREGATE_STAGE)}

    def observe(self, events: Sequence[EmotionEvent], now: float) -> None:
        latencies = [event.latency_ms for event in events]
        for stage in STAGES:
            observe_many(self.children[stage], [float(getattr(latency, stage)) / 1000.0 for latency in latencies])
        stamps = [event.frame.captured_at for event in events]
        parsed = {stamp: epoch(stamp) for stamp in set(stamps)}  # the faces of one frame share its time
        captured = [parsed[stamp] for stamp in stamps]
        observe_many(self.children[AGGREGATE_STAGE], [max(0.0, now - c) for c in captured if c is not None])
