"""Subscribe to emostream from Python: emotion events, track events and session summaries.

::

    from emostream.client.subscribe import Subscriber

    sub = Subscriber("redis://127.0.0.1:6379/0", prefix="emostream")
    for event in sub.events(group="my-app", consumer="worker-1"):
        print(event.source, event.track_id, event.label, event.confidence)

Details at :class:`Subscriber`.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import redis
from pydantic import PrivateAttr, TypeAdapter

from emostream.config import Config, RedisConfig
from emostream.streams import events, records
from emostream.streams.connection import connect
from emostream.streams.discovery import SourceStreams, registered_sources
from emostream.streams.group_commands import Entry
from emostream.streams.groups import GroupReader
from emostream.streams.keys import AGGREGATOR_GROUP, CLASSIFIER_GROUP, Keys
from emostream.streams.wire import Fields, MessageError, payload, validate
from emostream.streams.xread import xread_streams

log = logging.getLogger(__name__)
RESERVED_GROUPS = {AGGREGATOR_GROUP, CLASSIFIER_GROUP}


@dataclass(frozen=True)
class Delivery:
    """Where a record came from: its stream, entry id and (if read through one) consumer group."""

    stream: str
    entry_id: str
    group: str | None = None


class Delivered:
    """What every record adds to its message: where it came from, and its JSON document."""

    _delivery: Delivery = PrivateAttr(default=Delivery("", ""))

    @property
    def stream(self) -> str:
        return self._delivery.stream

    @property
    def entry_id(self) -> str:
        return self._delivery.entry_id

    @property
    def group(self) -> str | None:
        return self._delivery.group

    @property
    def data(self) -> dict[str, Any]:
        """The whole JSON payload, as published."""
        return self.to_dict()  # type: ignore[attr-defined, no-any-return]


class EmotionEvent(Delivered, events.EmotionEvent):
    """One classified face (``<prefix>:events:<source>``; schema in docs/events.md)."""


class TrackUpdate(Delivered, records.TrackEvent):
    """A track event: ``new``, ``update`` or ``end``, with the smoothed state ``before`` and ``after``."""


class SessionSummary(Delivered, records.SessionSummary):
    """The summary of an ended session (``<prefix>:sessions``)."""


Record = EmotionEvent | TrackUpdate | SessionSummary
R = TypeVar("R", EmotionEvent, TrackUpdate, SessionSummary)
Stop = Callable[[], bool] | threading.Event | None


@dataclass
class _Kind(Generic[R]):
    adapter: TypeAdapter[R]
    what: str
    streams: Callable[[], list[str]]

    def decode(self, fields: Fields, where: Delivery) -> R:
        record = validate(self.adapter, payload(fields), self.what)
        record._delivery = where
        return record


class Subscriber:
    """Without ``group`` a subscriber just reads (``XREAD``): it sees everything from
    now on (or from the start with ``from_start=True``) and forgets its place when
    it stops. With ``group`` it reads through a Redis consumer group of its own:

    - a record is acknowledged when the loop asks for the next one, i.e. after
      the loop body ran without raising (``auto_ack=False``: call :meth:`Subscriber.ack`);
    - a restarted subscriber with the same group and consumer name first gets the
      records it was handed but did not acknowledge, then continues with new ones;
    - records left unacknowledged by another consumer of the group for
      ``claim_idle_ms`` (a crashed replica under another name) are claimed;
    - several consumers of one group share the records; several groups each get all.

    Delivery is at least once: a record can come again after a crash, and leaving
    the loop with ``break`` leaves the record in hand unacknowledged. Every record
    carries a deterministic id (``event_id``, ``id``, ``session``) to drop repeats by.
    The group names ``aggregators`` and ``classifiers`` are emostream's own and refused.

    Records are the typed messages of ``emostream.streams`` (:class:`EmotionEvent`,
    :class:`TrackUpdate`, :class:`SessionSummary`: every field of the JSON as an
    attribute, nested ones as typed objects), plus where each came from
    (``stream``, ``entry_id``, ``group``). Reading in a group uses the same
    ``GroupReader`` as emostream's own workers; an entry that does not decode is
    logged, acknowledged and skipped.
    """

    def __init__(
        self,
        url: str | None = None,
        prefix: str = "emostream",
        *,
        client: redis.Redis | None = None,
        password: str | None = None,
        block_ms: int = 1000,
        cluster: bool = False,
    ) -> None:
        """Connect to ``url`` (or use ``client``); ``prefix`` is the deployment's ``redis.prefix``; ``cluster``: ``url`` is a Redis Cluster node."""
        if client is None:
            client = connect(RedisConfig(url=url, password=password, prefix=prefix, cluster=cluster))
        self.client = client
        self.keys = Keys(prefix)
        self.block_ms = block_ms

    @classmethod
    def from_config(cls, config: Config, **kwargs: Any) -> Subscriber:
        return cls(client=connect(config.redis), prefix=config.redis.prefix, **kwargs)

    # --- what to read ----------------------------------------------------------------

    def sources(self) -> list[str]:
        """Every source that has published so far."""
        return registered_sources(self.client, self.keys)

    def events(self, sources: list[str] | None = None, **options: Any) -> Iterator[EmotionEvent]:
        """Emotion events of ``sources`` (default: every source, including ones that appear later).

        Options: ``group``, ``consumer``, ``from_start``, ``follow``, ``auto_ack``, ``stop``,
        ``claim_idle_ms``; see :meth:`read`.
        """
        return self.read(_Kind(_EVENTS, "event", self._streams(self.keys.events, sources)), **options)

    def tracks(self, sources: list[str] | None = None, **options: Any) -> Iterator[TrackUpdate]:
        """Track events (new, update, end) of ``sources``; same options as :meth:`events`."""
        return self.read(_Kind(_TRACKS, "track event", self._streams(self.keys.tracks, sources)), **options)

    def summaries(self, **options: Any) -> Iterator[SessionSummary]:
        """Session summaries as sessions end; same options as :meth:`events`."""
        return self.read(_Kind(_SUMMARIES, "session summary", lambda: [self.keys.sessions]), **options)

    def _streams(self, stream_of: Callable[[str], str], sources: list[str] | None) -> Callable[[], list[str]]:
        """Streams not handed out before, of ``sources`` or of every registered source (looked up at most once a second)."""
        return SourceStreams(self.client, self.keys, stream_of, sources).new

    def ack(self, record: Record) -> None:
        """Acknowledge ``record`` in its group (for ``auto_ack=False``)."""
        if record.group is None:
            raise ValueError("this record was not read through a consumer group; there is nothing to acknowledge")
        self.client.xack(record.stream, record.group, record.entry_id)

    def close(self) -> None:
        self.client.close()

    # --- the reading loop --------------------------------------------------------------

    def read(
        self,
        kind: _Kind[R],
        *,
        group: str | None = None,
        consumer: str | None = None,
        from_start: bool = False,
        follow: bool = True,
        auto_ack: bool = True,
        stop: Stop = None,
        claim_idle_ms: int | None = 60_000,
    ) -> Iterator[R]:
        """Yield records of ``kind`` until ``stop`` (or, with ``follow=False``, until caught up).

        ``from_start``: without a group, begin with what is stored; with a group
        that does not exist yet, create it at the start of each stream instead of
        at its end. Streams that appear later are always read from their start.
        """
        if group is not None and group in RESERVED_GROUPS:
            raise ValueError(f"the consumer group {group!r} is emostream's own; pick another name")
        stopped = _stopper(stop)
        if group is None:
            yield from self._read_plain(kind, from_start, follow, stopped)
            return
        reader = GroupReader(self.client, group, consumer or socket.gethostname(), claim_idle_ms=claim_idle_ms)
        history: dict[str, str] = {}  # streams whose own unacknowledged records are still to be handed out, and where
        first = True
        while not stopped():
            for stream in kind.streams():
                if reader.follow(stream, "0" if (from_start or not first) else "$"):
                    history[stream] = "0"
            first = False
            for stream, claimed in reader.claim():
                yield from self._deliver(kind, stream, claimed, reader, auto_ack)
            if not reader.streams:
                if not follow:
                    return
                time.sleep(self.block_ms / 1000.0)
                continue
            if history:  # records this consumer was handed before a restart: paged by id, not blocking
                for stream, after in list(history.items()):
                    entries = reader.pending(stream, 500, after)
                    if entries:
                        history[stream] = entries[-1][0].decode()
                    else:
                        del history[stream]
                    yield from self._deliver(kind, stream, entries, reader, auto_ack)
                continue
            got = reader.read(500, self.block_ms)
            if not got and not follow:
                return
            for stream, entries in got:
                yield from self._deliver(kind, stream, entries, reader, auto_ack)

    def _read_plain(self, kind: _Kind[R], from_start: bool, follow: bool, stopped: Callable[[], bool]) -> Iterator[R]:
        """Without a group: ``XREAD`` from now (or the start); streams found later are read from their start."""
        positions: dict[str, str] = {}
        first = True
        while not stopped():
            for stream in kind.streams():
                positions.setdefault(stream, "0" if (from_start or not first) else "$")
            first = False
            if not positions:
                if not follow:
                    return
                time.sleep(self.block_ms / 1000.0)
                continue
            reply: Any = xread_streams(self.client, positions, 500, self.block_ms)
            if not reply:
                if not follow:
                    return
                continue
            for raw_stream, entries in reply:
                stream = raw_stream.decode()
                if entries:
                    positions[stream] = entries[-1][0].decode()
                yield from self._deliver(kind, stream, entries, None, False)

    def _deliver(self, kind: _Kind[R], stream: str, entries: list[Entry], reader: GroupReader | None, auto_ack: bool) -> Iterator[R]:
        for raw_id, fields in entries:
            entry_id = raw_id.decode()
            try:
                if not fields:  # trimmed from the stream while pending
                    raise MessageError("entry no longer in the stream")
                record = kind.decode(fields, Delivery(stream, entry_id, reader.group if reader else None))
            except MessageError as exc:
                log.warning("subscriber: skipping entry %s of %s: %s", entry_id, stream, exc)
                if reader is not None:
                    reader.ack(stream, [raw_id])
                continue
            yield record
            # Reached only when the caller asks for the next record: its loop body is done.
            if reader is not None and auto_ack:
                reader.ack(stream, [raw_id])


_EVENTS = TypeAdapter(EmotionEvent)
_TRACKS = TypeAdapter(TrackUpdate)
_SUMMARIES = TypeAdapter(SessionSummary)


def _stopper(stop: Stop) -> Callable[[], bool]:
    if stop is None:
        return lambda: False
    if isinstance(stop, threading.Event):
        return stop.is_set
    return stop
