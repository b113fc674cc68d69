"""The events an aggregator holds for their tracks: applied in frame order, their track events published, then acknowledged.

Events are counted as they are read (``counting``) but held, unacknowledged,
for ``reorder_ms`` (``rolling.ReorderBuffer``), so that a track's faces apply
in frame order. Releasing them folds them into their tracks (``tracks``),
publishes the track events from the outbox, and only then acknowledges them:
a crash in between leaves them pending, and applying them again changes
nothing. The worker releases when the hold is over, before it gives a source
away and when it stops; the finisher (``session_finish``) before it ends a
session's tracks, since a held face may belong to the session.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable

import redis

from emostream.aggregator.rolling import ReorderBuffer
from emostream.aggregator.tracks import TrackStore
from emostream.infra.metrics import AggregatorMetrics
from emostream.streams.groups import GroupReader


class HeldEvents:
    def __init__(
        self, client: redis.Redis, reader: GroupReader, buffer: ReorderBuffer, tracks: TrackStore, metrics: AggregatorMetrics,
        clock: Callable[[], float],
    ) -> None:
        self.client = client
        self.reader = reader
        self.buffer = buffer
        self.tracks = tracks
        self.metrics = metrics
        self.clock = clock
        self.published = 0  # track events this aggregator published

    def release(self) -> None:
        """Apply the held events to their tracks in frame order, publish, then acknowledge."""
        if not len(self.buffer):
            return
        items = list(self.buffer.items)
        result = self.tracks.apply([event for _, _, event in items], self.clock())
        for source, count in result.late.items():
            if count:
                self.metrics.unsmoothed.labels(source).inc(count)
        self.publish(result.sessions)
        by_stream: dict[str, list[bytes]] = defaultdict(list)
        for stream, eid, _ in items:
            by_stream[stream].append(eid)
        pipe = self.client.pipeline(transaction=False)
        for stream, ids in by_stream.items():
            self.reader.ack(stream, ids, pipe)
        pipe.execute()
        self.buffer.clear()

    def end_tracks(self, session: str) -> None:
        """Apply whatever is held, then end the session's remaining tracks and publish their end events."""
        self.release()
        self.tracks.end_session(session)
        self.publish([session])

    def expire(self, sessions: Iterable[str], idle_sources: set[str], not_before: float) -> dict[str, int]:
        """End the timed-out and idle tracks of ``sessions`` (see ``TrackStore.expire``); the tracks still active per source."""
        ended, active = self.tracks.expire(sessions, self.clock(), idle_sources, not_before)
        self.publish(e.session for e in ended)
        return active

    def publish(self, sessions: Iterable[str]) -> None:
        """Move the track events waiting in the outboxes of ``sessions`` to the public tracks streams, and count them."""
        for body in self.tracks.flush(sessions):
            self.published += 1
            self.metrics.track_events.labels(body["source"], body["type"]).inc()
