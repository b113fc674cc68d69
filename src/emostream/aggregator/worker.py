"""The aggregator worker: counts events per session, smooths tracks, serves metrics and sessions.

It reads ``<prefix>:lifecycle`` and the ``<prefix>:events:<source>`` of the
sources it leases (``leases``, ``sharing``) in the consumer group
``aggregators``, through the shared ``streams.groups.GroupReader``. Entries
are validated on decoding (``intake``); events are counted at once in Redis
(``counting``, ``store``), held for ``reorder_ms`` so a track's events apply
in frame order (``rolling.ReorderBuffer``, ``held_events``, ``tracks``), then acknowledged.
All state is in Redis, so a restarted aggregator continues where the last
stopped. Sessions are summarised and published once by ``session_finish`` and
``session_close``. Wall-clock time comes from one injected ``clock``; another,
``ticks`` (``time.monotonic``), only paces the loop's periodic chores.
:meth:`AggregatorWorker.step` is one pass of the loop, for whoever drives it.
"""

from __future__ import annotations

import logging
import math
import socket
import time
from collections.abc import Callable

import redis
from prometheus_client import CollectorRegistry

from emostream.aggregator.api import serve_sessions
from emostream.aggregator.counting import Counted, EventCounter
from emostream.aggregator.expiry import Expiry
from emostream.aggregator.held_events import HeldEvents
from emostream.aggregator.intake import EventIntake
from emostream.aggregator.keepalive import LeaseKeeper
from emostream.aggregator.latency import EventLatency
from emostream.aggregator.leases import SourceLeases
from emostream.aggregator.queries import SessionQueries
from emostream.aggregator.rolling import ReorderBuffer
from emostream.aggregator.session_finish import SessionFinisher
from emostream.aggregator.sharing import SourceSharing
from emostream.aggregator.store import SessionStore
from emostream.aggregator.tracks import TrackStore
from emostream.config import Config
from emostream.infra.gctimer import TimedCollector
from emostream.infra.httpserver import WorkerHttpServer
from emostream.infra.metrics import AggregatorMetrics
from emostream.infra.worker import Worker
from emostream.streams.group_commands import Entry
from emostream.streams.groups import GroupReader
from emostream.streams.keys import AGGREGATOR_GROUP, Keys
from emostream.streams.reconnect import Reconnector
from emostream.streams.retry import RetryLadder
from emostream.streams.wait import connect_when_up

log = logging.getLogger(__name__)
READ_COUNT = 500  # entries per stream and read
HOUSEKEEPING_S = 1.0  # how often track expiry, gauges and backlogs are refreshed


class AggregatorWorker(Worker):
    role = "aggregator"

    def __init__(
        self,
        config: Config,
        registry: CollectorRegistry | None = None,
        http_port: int | None = None,
        consumer: str | None = None,
        clock: Callable[[], float] = time.time,
        ticks: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(config, registry, config.http.aggregator_port if http_port is None else http_port)
        cfg = config.aggregator
        self.keys = Keys(config.redis.prefix)
        self.metrics = AggregatorMetrics(self.registry)
        # A stable name, so a restarted aggregator finds and finishes its own pending entries.
        self.consumer = consumer or f"aggregator-{socket.gethostname()}"
        self.clock = clock
        self.ticks = ticks
        self.client = connect_when_up(config.redis, config.redis.startup_wait_s, retries=0)  # Reconnector retries, without repeating writes
        self.store = SessionStore(self.client, self.keys, cfg.chart_bucket_s)
        self.tracks = TrackStore(self.client, self.keys, config.tracks)
        self.queries = SessionQueries(self.client, self.keys, cfg.chart_bucket_s, clock)
        self.reconnector = Reconnector("aggregator", self.stop.is_set)
        self.reader = GroupReader(
            self.client, AGGREGATOR_GROUP, self.consumer,
            claim_idle_ms=cfg.claim_idle_ms, max_deliveries=cfg.max_deliveries, claim_count=500,
            deadletter=self.keys.deadletter, on_dead_letter=self._on_dead_letter, on_claimed=self.metrics.claimed.inc, wall=clock,
        )
        self.reader.follow(self.keys.lifecycle)  # first: a session's start is read before its events
        # Reads recreate a lost group themselves; the ladder does it for a write that meets NOGROUP.
        self.ladder = RetryLadder("aggregator", self.reconnector, self.stop.wait, self.reader.recreate)
        self.leases = SourceLeases(self.client, self.keys, self.consumer, cfg.lease_s, clock)
        self.keeper = LeaseKeeper(self.leases, limit_s=max(60.0, 4 * cfg.lease_s))  # leases kept while finishing sessions
        self.sharing = SourceSharing(self.client, self.keys, self.leases, self.reader, self.metrics)
        self.latency = EventLatency(self.metrics.latency)
        self.buffer = ReorderBuffer(cfg.reorder_ms / 1000.0)
        self.held = HeldEvents(self.client, self.reader, self.buffer, self.tracks, self.metrics, clock)
        self.finisher = SessionFinisher(cfg, self.store, self.leases, self.sharing, self.held, self.metrics, clock)
        self.intake = EventIntake(self.keys, self.store, self.reader, cfg.end_grace_s, clock)
        self.expiry = Expiry(self.client, self.keys, cfg.summary_dir, cfg.expire_after_s, cfg.expire_every_s, clock)
        self.counter = EventCounter(self.store, self.buffer, self.metrics, self.latency, cfg.share_window_s, clock)
        self.caught_up: set[str] = set()  # sources whose last read came back empty
        self.started_wall = clock()
        self._last_round = -math.inf
        self._last_housekeeping = -math.inf
        self.collector = TimedCollector()

    @property
    def counted(self) -> int:
        """Events this aggregator counted first (a duplicate, or one another aggregator counted, is not)."""
        return self.counter.counted

    @property
    def track_events(self) -> int:
        """Track events this aggregator published."""
        return self.held.published

    @property
    def streams(self) -> dict[str, str]:
        """Every stream this aggregator reads (the lifecycle stream and each source's events)."""
        return self.reader.streams

    def health(self) -> dict[str, object]:
        body = super().health()
        body.update(
            events=self.counted, summaries=self.finisher.summaries, track_events=self.track_events, streams=len(self.streams),
            sources=len(self.leases.owned),
        )
        if self.finisher.faults.disk is not None:  # summaries cannot be written: say so until a write succeeds
            body.update(ok=False, disk=self.finisher.faults.disk)
        return body

    def add_routes(self, server: WorkerHttpServer) -> None:
        serve_sessions(server, self.config, self.keys, self.clock)

    def _refresh_sources(self) -> None:
        """About once a second: find new sources, run a lease round (see ``sharing``), refresh the backlogs."""
        now = self.ticks()
        if now - self._last_round < self.leases.round_s:
            return
        self._last_round = now
        self._share()
        for stream in self.streams:
            self.metrics.backlog.labels(stream, AGGREGATOR_GROUP).set(self.reader.backlog(stream))

    def _share(self) -> None:
        """One lease round, and what it changes here (see ``sharing``)."""
        change = self.sharing.round()
        for source in change.lost:  # before applying what is held: those events stay pending for the new owner
            self._forget(source)
        if change.to_release:
            self.held.release()  # applied and acknowledged before the next owner starts
            for source in change.to_release:
                self.sharing.release(source)
                self._forget(source)
        for source in change.acquired:
            for entries in self.sharing.start(source):
                self._handle(self.keys.events(source), entries)
        for member in change.dropped:
            self._handle(self.keys.lifecycle, self.sharing.lifecycle_of(member))

    def _forget(self, source: str) -> None:
        """What this process keeps of a source it no longer reads: its held events (left pending) and its share."""
        self.buffer.drop(self.keys.events(source))
        self.caught_up.discard(source)
        self.counter.forget(source)

    def _source_of(self, stream: str) -> str:
        return self.keys.source_of_events(stream)

    def _on_dead_letter(self, kind: str, _reason: str) -> None:
        self.metrics.deadletters.labels(kind).inc()

    def _handle(self, stream: str, entries: list[Entry]) -> None:
        (self.intake.record_lifecycle if stream == self.keys.lifecycle else self._handle_events)(stream, entries)

    def _handle_events(self, stream: str, entries: list[Entry]) -> None:
        """Count the events now (one round trip for the batch); hold them (unacknowledged) for their tracks."""
        source = self._source_of(stream)
        if source not in self.leases.owned:
            return  # lost meanwhile: the entries stay pending for the new owner
        decoded = self.intake.sort(stream, entries)
        if not decoded:
            return
        if self.counter.count(stream, source, decoded, self.leases.owned) == Counted.FENCED:
            self.sharing.lose(source)
            self._forget(source)
            return
        self.counter.update_shares()

    def _claim(self) -> None:
        """Take over entries left pending by an aggregator that stopped (under any name)."""
        for stream, entries in self.reader.claim():
            self._handle(stream, entries)

    def _housekeeping(self) -> None:
        """End timed-out and idle tracks and refresh the gauges, about once a second.

        Only with nothing held: a held face may be the one that keeps its track alive.
        """
        now = self.ticks()
        if len(self.buffer) or now - self._last_housekeeping < HOUSEKEEPING_S:
            return
        self._last_housekeeping = now
        sessions = list(self.finisher.own())
        self.metrics.sessions_active.set(len(sessions))
        active = self.held.expire(sessions, self.caught_up, self.started_wall)
        for stream in self.streams:
            if stream != self.keys.lifecycle:
                source = self._source_of(stream)
                self.metrics.tracks_active.labels(source).set(active.get(source, 0))

    def step(self) -> None:
        """One pass of the loop: lease round and claims when due, one read, release, chores, finishing sessions.

        ``serve`` calls :meth:`resume` once, then repeats this under the retry ladder; so may a
        caller that drives the worker itself (a test, a profile). The periodic chores run when
        ``ticks`` says they are due.
        """
        self._refresh_sources()
        self._claim()
        wait = self.buffer.wait_s(self.clock())
        block = 200 if wait is None else max(1, min(200, int(wait * 1000)))
        touched = set()
        # Up to READ_COUNT per stream, as XREADGROUP's COUNT on one Redis; a cluster reader shares its count among the streams.
        count = self.reader.topology.read_count(READ_COUNT, len(self.streams))
        # Lifecycle first, so a session's start is recorded before its events (a cluster read starts at any stream).
        for stream, entries in sorted(self.reader.read(count, block), key=lambda read: read[0] != self.keys.lifecycle):
            touched.add(stream)
            self._handle(stream, entries)
        self.caught_up = {self._source_of(s) for s in self.streams if s != self.keys.lifecycle and s not in touched}
        if self.buffer.due(self.clock()):
            self.held.release()
        self._housekeeping()
        with self.keeper.busy():  # a summary draws a chart, which may take longer than the lease
            self.finisher.finish()
        self.expiry.tick()
        self.collector.tick()

    def resume(self) -> None:
        """Before the loop: a lease round now, then what this consumer left unfinished before a restart.

        Its lifecycle entries read but not acknowledged are handled (those of the
        events streams were taken over with their leases, ``SourceSharing.start``),
        and track events a predecessor wrote to an outbox but did not publish are published.
        """
        self._last_round = -math.inf
        self._refresh_sources()
        entries = self.reader.pending(self.keys.lifecycle, 10_000)
        if entries:
            self._handle(self.keys.lifecycle, entries)
        self.held.release()
        # Track events written to an outbox by a predecessor that stopped before publishing them.
        self.held.publish(self.store.open_sessions())

    def _drain(self) -> None:
        """On stop: apply and acknowledge what is held, so nothing waits for a redelivery."""
        try:
            self.held.release()
        except Exception:  # Redis gone: the entries stay pending and are redelivered
            log.exception("aggregator: could not apply %d held events while stopping", len(self.buffer))

    def serve(self) -> None:
        log.info("aggregator %s: summaries in %s", self.consumer, self.config.aggregator.summary_dir)
        self.collector.start()  # the reorder buffer's young objects made the default collector cost a third of the time
        self.keeper.start()
        self.reconnector.call(self.resume)
        while not self.stop.is_set():
            self.ladder.run(self.step)
        self.keeper.stop()
        self._drain()
        try:
            streams = list(self.streams)
            self.leases.leave()
            for stream in streams:
                self.reader.leave(stream)
        except redis.RedisError:  # Redis gone: the leases expire by themselves
            log.warning("aggregator: could not release %d source leases while stopping", len(self.leases.owned))
        log.info("aggregator stopped ◆ %d events counted ◆ %d track events ◆ %d sessions summarised", self.counted, self.track_events,
                 self.finisher.summaries)
