"""Which events streams one aggregator reads, following its leases (see ``leases``).

Each lease round: sources lost to another aggregator are dropped at once
(their held events stay pending for the new owner); sources the plan gives
away are finished first (what is held is applied and acknowledged), then
released; newly leased sources are followed after their pending entries are
taken over; and the lifecycle messages a dropped (silent) member had read are
claimed now instead of after ``claim_idle_ms``. Each step returns what it took
over or stopped reading; the worker handles those entries, finishes what it
holds and forgets what it held of a stream (``AggregatorWorker._share``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import redis

from emostream.aggregator.leases import Round, SourceLeases, take_over
from emostream.infra.metrics import AggregatorMetrics
from emostream.streams.discovery import SourceStreams
from emostream.streams.group_commands import Entry
from emostream.streams.groups import GroupReader
from emostream.streams.keys import AGGREGATOR_GROUP, Keys

log = logging.getLogger(__name__)


class SourceSharing:
    """The reading side of the leases: each step says what it took over or stopped, and the worker acts on it."""

    def __init__(self, client: redis.Redis, keys: Keys, leases: SourceLeases, reader: GroupReader, metrics: AggregatorMetrics) -> None:
        self.client = client
        self.keys = keys
        self.leases = leases
        self.reader = reader
        self.metrics = metrics
        self.sources = SourceStreams(client, keys, keys.events)
        self.registered: set[str] = set()  # every registered source, leased by this aggregator or another

    @property
    def consumer(self) -> str:
        return self.reader.consumer

    def round(self) -> Round:
        """Look for new sources and run a lease round; the sources lost are no longer read when it returns.

        The caller forgets the lost ones, finishes what it holds before :meth:`release`
        of ``to_release``, :meth:`start` s the ``acquired`` and handles what
        :meth:`lifecycle_of` each ``dropped`` member answers.
        """
        self.sources.new(force=True)
        self.registered = {self.keys.source_of_events(stream) for stream in self.sources.known}
        change = self.leases.round(self.registered)
        for source in change.lost:
            self.stop(source)
        return change

    def release(self, source: str) -> None:
        """Give up a source whose held work the caller has finished (applied and acknowledged): the next owner starts there."""
        self.leases.release(source)
        self.stop(source)
        self.reader.leave(self.keys.events(source))  # no consumer left behind in the group, if it holds nothing

    def start(self, source: str) -> Iterator[list[Entry]]:
        """Follow a newly leased source; the pages its last owner left pending, taken over, for the caller to handle first."""
        stream = self.keys.events(source)
        self.reader.follow(stream)
        self.metrics.init_source(source)
        for entries in take_over(self.client, stream, self.consumer):
            self.metrics.claimed.inc(len(entries))
            yield entries

    def stop(self, source: str) -> None:
        """Stop reading a source that moved to another aggregator; its gauges go with it (see ``drop_source``).

        What the caller holds of it is for the caller to forget (it stays pending for the new owner).
        """
        stream = self.keys.events(source)
        self.reader.streams.pop(stream, None)
        self.metrics.drop_source(source, stream, AGGREGATOR_GROUP)

    def lose(self, source: str) -> None:
        """A counting call was refused: a newer owner counts this source (the caller forgets it, as after :meth:`stop`)."""
        self.leases.lose(source)
        self.stop(source)

    def lifecycle_of(self, member: str) -> list[Entry]:
        """The lifecycle messages a silent aggregator read and never finished, claimed for the caller to handle.

        Only entries idle for a lease are taken: the member has been silent that
        long, and another aggregator that claimed them first has reset their idle time.
        """
        stream = self.keys.lifecycle
        pending: Any = self.client.xpending_range(stream, AGGREGATOR_GROUP, "-", "+", 10_000, consumername=member)
        ids = [p["message_id"] for p in pending]
        if not ids:
            return []
        claimed: Any = self.client.xclaim(stream, AGGREGATOR_GROUP, self.consumer, self.leases.lease_ms, ids)
        entries = [(eid, fields) for eid, fields in claimed if fields]
        if entries:
            log.info("aggregator %s: claimed %d lifecycle messages left by %s", self.consumer, len(entries), member)
            self.metrics.claimed.inc(len(entries))
        return entries
