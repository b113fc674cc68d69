"""Subscribe to emostream from Python: emotion events, track events and session summaries.

::

    from emostream.subscribe import Subscriber

    sub = Subscriber("redis://127.0.0.1:6379/0", prefix="emostream")
    for event in sub.events(group="my-app", consumer="worker-1"):
        print(event.source, event.track_id, event.label, event.confidence)

Without ``group`` a subscriber just reads (``XREAD``): it sees everything from
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
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import redis

from emostream.config import Config, RedisConfig
from emostream.keys import AGGREGATOR_GROUP, CLASSIFIER_GROUP, Keys
from emostream.messages import MessageError, decode_event, decode_summary, decode_track
from emostream.redis_io import autoclaim, connect, ensure_group

log = logging.getLogger(__name__)
RESERVED_GROUPS = {AGGREGATOR_GROUP, CLASSIFIER_GROUP}


@dataclass(frozen=True)
class Record:
    """One stream entry: where it came from and its JSON ``data``."""

    stream: str
    entry_id: str
    data: dict[str, Any] = field(repr=False)
    group: str | None = field(default=None, repr=False)


class EmotionEvent(Record):
    """One classified face (``<prefix>:events:<source>``; schema in docs/events.md)."""

    @property
    def event_id(self) -> str:
        return str(self.data["event_id"])

    @property
    def source(self) -> str:
        return str(self.data["source"])

    @property
    def session(self) -> str:
        return str(self.data["session"])

    @property
    def track_id(self) -> int:
        return int(self.data["face"]["track_id"])

    @property
    def label(self) -> str:
        return str(self.data["emotion"]["label"])

    @property
    def confidence(self) -> float:
        return float(self.data["emotion"]["confidence"])

    @property
    def probabilities(self) -> dict[str, float]:
        return dict(self.data["emotion"]["probabilities"])

    @property
    def offset_s(self) -> float:
        return float(self.data["frame"]["offset_s"])


class TrackUpdate(Record):
    """A track event: ``new``, ``update`` or ``end``, with the smoothed state ``before`` and ``after``."""

    @property
    def id(self) -> str:
        return str(self.data["id"])

    @property
    def type(self) -> str:
        return str(self.data["type"])

    @property
    def reason(self) -> str:
        return str(self.data.get("reason", ""))

    @property
    def source(self) -> str:
        return str(self.data["source"])

    @property
    def session(self) -> str:
        return str(self.data["session"])

    @property
    def track_id(self) -> int:
        return int(self.data["track_id"])

    @property
    def label(self) -> str:
        """The smoothed label after this event."""
        return str(self.data["after"]["label"])

    @property
    def before(self) -> dict[str, Any] | None:
        before: dict[str, Any] | None = self.data.get("before")
        return before

    @property
    def after(self) -> dict[str, Any]:
        return dict(self.data["after"])


class SessionSummary(Record):
    """The summary of an ended session (``<prefix>:sessions``)."""

    @property
    def session(self) -> str:
        return str(self.data["session"])

    @property
    def source(self) -> str:
        return str(self.data["source"])

    @property
    def duration_s(self) -> float:
        return float(self.data["duration_s"])

    @property
    def faces(self) -> int:
        return int(self.data["faces"])

    @property
    def share(self) -> dict[str, float]:
        return dict(self.data["emotions"]["share"])


R = TypeVar("R", bound=Record)
Stop = Callable[[], bool] | threading.Event | None


@dataclass
class _Kind(Generic[R]):
    make: type[R]
    decode: Callable[[dict[bytes, bytes]], dict[str, Any]]
    streams: Callable[[], list[str]]


class Subscriber:
    def __init__(
        self,
        url: str | None = None,
        prefix: str = "emostream",
        *,
        client: redis.Redis | None = None,
        password: str | None = None,
        block_ms: int = 1000,
    ) -> None:
        """Connect to ``url`` (or use ``client``); ``prefix`` is the deployment's ``redis.prefix``."""
        if client is None:
            client = connect(RedisConfig(url=url, password=password, prefix=prefix))
        self.client = client
        self.keys = Keys(prefix)
        self.block_ms = block_ms

    @classmethod
    def from_config(cls, config: Config, **kwargs: Any) -> Subscriber:
        return cls(client=connect(config.redis), prefix=config.redis.prefix, **kwargs)

    # --- what to read ----------------------------------------------------------------

    def sources(self) -> list[str]:
        """Every source that has published so far."""
        return sorted(s.decode() if isinstance(s, bytes) else str(s) for s in self.client.smembers(self.keys.sources))

    def events(self, sources: list[str] | None = None, **options: Any) -> Iterator[EmotionEvent]:
        """Emotion events of ``sources`` (default: every source, including ones that appear later).

        Options: ``group``, ``consumer``, ``from_start``, ``follow``, ``auto_ack``, ``stop``,
        ``claim_idle_ms``; see :meth:`read`.
        """
        return self.read(_Kind(EmotionEvent, decode_event, lambda: [self.keys.events(s) for s in sources or self.sources()]), **options)

    def tracks(self, sources: list[str] | None = None, **options: Any) -> Iterator[TrackUpdate]:
        """Track events (new, update, end) of ``sources``; same options as :meth:`events`."""
        return self.read(_Kind(TrackUpdate, decode_track, lambda: [self.keys.tracks(s) for s in sources or self.sources()]), **options)

    def summaries(self, **options: Any) -> Iterator[SessionSummary]:
        """Session summaries as sessions end; same options as :meth:`events`."""
        return self.read(_Kind(SessionSummary, decode_summary, lambda: [self.keys.sessions]), **options)

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

        ``from_start``: without a group, begin with what is already stored; with a
        group that does not exist yet, create it at the start of each stream
        instead of at its end. Streams that appear later are always read from their start.
        """
        if group is not None and group in RESERVED_GROUPS:
            raise ValueError(f"the consumer group {group!r} is emostream's own; pick another name")
        stopped = _stopper(stop)
        consumer = consumer or socket.gethostname()
        positions: dict[str, str] = {}
        first = True
        last_refresh = last_claim = 0.0
        while not stopped():
            now = time.monotonic()
            if now - last_refresh >= 1.0:
                last_refresh = now
                for stream in kind.streams():
                    if stream in positions:
                        continue
                    start = "0" if (from_start or not first) else "$"
                    if group is None:
                        positions[stream] = start
                    else:
                        ensure_group(self.client, stream, group, start)
                        positions[stream] = "0"  # this consumer's unacknowledged records first
                first = False
            if group is not None and claim_idle_ms is not None and now - last_claim >= claim_idle_ms / 2000.0:
                last_claim = now
                for stream in positions:
                    claimed = autoclaim(self.client, stream, group, consumer, claim_idle_ms, 500)
                    yield from self._deliver(kind, stream, claimed, group, auto_ack)
            if not positions:
                if not follow:
                    return
                time.sleep(self.block_ms / 1000.0)
                continue
            history = {s: p for s, p in positions.items() if p != ">"} if group is not None else {}
            if history:  # pending records: non-blocking, paged by id
                reply: Any = self.client.xreadgroup(group, consumer, history, count=500)  # type: ignore[arg-type]
                for raw_stream, entries in reply or []:
                    stream = raw_stream.decode()
                    positions[stream] = entries[-1][0].decode() if entries else ">"
                    yield from self._deliver(kind, stream, entries, group, auto_ack)
                for stream in history:
                    if not any(s.decode() == stream for s, _ in reply or []):
                        positions[stream] = ">"
                continue
            if group is None:
                reply = self.client.xread(positions, count=500, block=self.block_ms)  # type: ignore[arg-type]
            else:
                reply = self.client.xreadgroup(group, consumer, positions, count=500, block=self.block_ms)  # type: ignore[arg-type]
            if not reply:
                if not follow:
                    return
                continue
            for raw_stream, entries in reply:
                stream = raw_stream.decode()
                if group is None and entries:
                    positions[stream] = entries[-1][0].decode()
                yield from self._deliver(kind, stream, entries, group, auto_ack)

    def _deliver(self, kind: _Kind[R], stream: str, entries: list[Any], group: str | None, auto_ack: bool) -> Iterator[R]:
        for raw_id, fields in entries:
            entry_id = raw_id.decode()
            try:
                if not fields:  # trimmed from the stream while pending
                    raise MessageError("entry no longer in the stream")
                record = kind.make(stream, entry_id, kind.decode(fields), group)
            except MessageError as exc:
                log.warning("subscriber: skipping entry %s of %s: %s", entry_id, stream, exc)
                if group is not None:
                    self.client.xack(stream, group, entry_id)
                continue
            yield record
            # Reached only when the caller asks for the next record: its loop body is done.
            if group is not None and auto_ack:
                self.client.xack(stream, group, entry_id)


def _stopper(stop: Stop) -> Callable[[], bool]:
    if stop is None:
        return lambda: False
    if isinstance(stop, threading.Event):
        return stop.is_set
    return stop
