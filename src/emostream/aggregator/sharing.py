"""Which events streams one aggregator reads, following its leases (see ``leases``).

Each lease round: sources lost to another aggregator are dropped at once
(their held events stay pending for the new owner); sources the plan gives
away are finished first (what is held is applied and acknowledged), then
released; newly leased sources are followed after their pending entries are
taken over; and the lifecycle messages a dropped (silent) member had read are
claimed now instead of after ``claim_idle_ms``. The worker hands in what to do
with entries (``handle``), how to finish what it holds (``finish_held``) and
what to forget of a stream it stops reading (``forget``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import redis

from emostream.aggregator.leases import SourceLeases, take_over
from emostream.infra.metrics import AggregatorMetrics
from emostream.streams.discovery import SourceStreams
from emostream.streams.group_commands import Entry
from emostream.streams.groups import GroupReader
from emostream.streams.keys import AGGREGATOR_GROUP, Keys

log = logging.getLogger(__name__)


class SourceSharing:
    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        leases: SourceLeases,
        reader: GroupReader,
        metrics: AggregatorMetrics,
        handle: Callable[[str, list[Entry]], None],
        finish_held: Callable[[], None],
        forget: Callable[[str], None],
    ) -> None:
        self.client = client
        self.keys = keys
        self.leases = leases
        self.reader = reader
        self.metrics = metrics
        self.handle = handle
        self.finish_held = finish_held
        self.forget = forget
        self.sources = SourceStreams(client, keys, keys.events)
        self.registered: set[str] = set()  # every registered source, leased by this aggregator or another

    @property
    def consumer(self) -> str:
        return self.reader.consumer

    def round(self) -> None:
        """Look for new sources, run a lease round, and start or stop reading accordingly."""
        self.sources.new(force=True)
        self.registered = {self.keys.source_of_events(stream) for stream in self.sources.known}
        change = self.leases.round(self.registered)
        for source in change.lost:
            self.stop(source)
        if change.to_release:
            self.finish_held()  # applied and acknowledged before the next owner starts
            for source in change.to_release:
                self.leases.release(source)
                self.stop(source)
                self.reader.leave(self.keys.events(source))  # no consumer left behind in the group, if it holds nothing
        for source in change.acquired:
            self.start(source)
        for member in change.dropped:
            self.claim_lifecycle_of(member)

    def start(self, source: str) -> None:
        """Follow a newly leased source, first taking over what its last owner left pending."""
        stream = self.keys.events(source)
        self.reader.follow(stream)
        self.metrics.init_source(source)
        for entries in take_over(self.client, stream, self.consumer):
            self.metrics.claimed.inc(len(entries))
            self.handle(stream, entries)

    def stop(self, source: str) -> None:
        """Stop reading a source that moved to another aggregator; its gauges go with it (see ``drop_source``)."""
        stream = self.keys.events(source)
        self.forget(stream)
        self.reader.streams.pop(stream, None)
        self.metrics.drop_source(source, stream, AGGREGATOR_GROUP)

    def lose(self, source: str) -> None:
        """A counting call was refused: a newer owner counts this source."""
        self.leases.lose(source)
        self.stop(source)

    def claim_lifecycle_of(self, member: str) -> None:
        """Handle the lifecycle messages a silent aggregator read and never finished.

        Only entries idle for a lease are taken: the member has been silent that
        long, and another aggregator that claimed them first has reset their idle time.
        """
        stream = self.keys.lifecycle
        pending: Any = self.client.xpending_range(stream, AGGREGATOR_GROUP, "-", "+", 10_000, consumername=member)
        ids = [p["message_id"] for p in pending]
        if not ids:
            return
        claimed: Any = self.client.xclaim(stream, AGGREGATOR_GROUP, self.consumer, self.leases.lease_ms, ids)
        entries = [(eid, fields) for eid, fields in claimed if fields]
        if entries:
            log.info("aggregator %s: claimed %d lifecycle messages left by %s", self.consumer, len(entries), member)
            self.metrics.claimed.inc(len(entries))
            self.handle(stream, entries)
