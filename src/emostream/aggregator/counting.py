"""Counting a batch of events: once per session in Redis, then in this process's counters and rolling shares.

A batch is counted in one round trip (``store.count_events``); what it counted
for the first time goes into the events counter, the latency histograms and
the source's rolling share. The counted events are held in the reorder buffer
for their tracks, unless a newer owner of the source fenced this aggregator off.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from enum import Enum

from emostream.aggregator.latency import EventLatency
from emostream.aggregator.rolling import ReorderBuffer, RollingShare
from emostream.aggregator.store import SessionStore
from emostream.infra.metrics import AggregatorMetrics
from emostream.streams.events import EmotionEvent


class Counted(Enum):
    """How a batch went: counted and held, or fenced (a newer owner counts the source: nothing of it is held)."""

    HELD = "held"
    FENCED = "fenced"


class EventCounter:
    def __init__(
        self,
        store: SessionStore,
        buffer: ReorderBuffer,
        metrics: AggregatorMetrics,
        latency: EventLatency,
        share_window_s: float,
        clock: Callable[[], float],
    ) -> None:
        self.store, self.buffer, self.metrics, self.latency = store, buffer, metrics, latency
        self.share_window_s, self.clock = share_window_s, clock
        self.shares: dict[str, RollingShare] = {}
        self.counted = 0  # events this process counted first

    def count(self, stream: str, source: str, decoded: list[tuple[bytes, EmotionEvent]], owned: Mapping[str, int]) -> Counted:
        results = self.store.count_events([event for _, event in decoded], owned)
        fenced = -1 in results  # a newer owner counts this source: hold and acknowledge nothing of the batch
        now = self.clock()
        share = self.shares.setdefault(source, RollingShare(self.share_window_s))
        fresh = []
        for (eid, event), new in zip(decoded, results, strict=True):
            if not fenced:
                self.buffer.add(now, stream, eid, event)
            if new == 1:  # counted here (in a fenced batch too: other sessions' events may have been), so in our counters
                fresh.append(event)
                share.add(now, event.label)
        self.counted += len(fresh)
        if duplicates := results.count(0):
            self.metrics.duplicates.labels(source).inc(duplicates)
        for label, n in Counter(event.label for event in fresh).items():
            self.metrics.events.labels(source, label).inc(n)
        self.latency.observe(fresh, now)
        return Counted.FENCED if fenced else Counted.HELD

    def update_shares(self) -> None:
        now = self.clock()
        for source, share in self.shares.items():
            share.expire(now)
            for emotion, value in share.shares().items():
                self.metrics.share.labels(source, emotion).set(value)

    def forget(self, source: str) -> None:
        """A source this process no longer reads: its share goes (its counters stay, see AggregatorMetrics.drop_source)."""
        self.shares.pop(source, None)
