"""How far behind the classifiers are: the size of their queue, the age of its oldest face, how fast it drains.

Both are read from Redis at most every ``period_s`` and shared by all
sources of a worker, so the cost does not grow with the number of cameras.
The age is cheap: a stream entry's id is the Redis server's clock (ms) when
it was added, so the oldest undelivered face's id, compared with this host's
clock, is how long it has waited. (Redis's own ``TIME`` would avoid clock skew
between hosts, but the ACL rule in docs/deploy.md does not grant it; hosts
are expected to keep their clocks in sync, as the latency figures of every
event already assume.)

Details at :class:`RedisQueueProbe`.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import redis

from emostream.infra.faults import fault_log
from emostream.infra.metrics import IngestMetrics
from emostream.ingest.policy import QueueState
from emostream.streams.group_commands import backlog
from emostream.streams.keys import CLASSIFIER_GROUP, Keys

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QueueReading:
    backlog: int = 0
    waiting: int = 0  # not yet delivered (lag)
    oldest_age_ms: float = 0.0
    delivered: int | None = None  # the group's entries-read counter; None where Redis does not keep it
    joined: bool = False  # a classifier has joined the group
    service_ms: float = 0.0  # the slowest advertised forward pass


def service_ms(raw: dict[Any, Any], now: float, fresh_s: float = 10.0) -> float:
    """The slowest forward pass the classifiers advertised in the last ``fresh_s`` (replicas that stopped are ignored)."""
    slowest = 0.0
    for value in raw.values():
        try:
            stats = json.loads(value)
            if now - float(stats["at"]) <= fresh_s:
                slowest = max(slowest, float(stats["inference_ms"]))
        except (ValueError, KeyError, TypeError):
            continue  # a malformed entry must not switch backpressure off
    return slowest


def read_queue(client: redis.Redis, stream: str, group: str, stats: str | None, now: Callable[[], float] = time.time) -> QueueReading:
    """One look at the group, in one or two round trips (XINFO GROUPS and the classifiers' stats, then XRANGE for the oldest waiting face).

    ``stats`` None: the classifiers' stats are not read (``service_ms`` 0), for a caller that reads them once for several shards.
    """
    pipe = client.pipeline(transaction=False)
    pipe.xinfo_groups(stream)
    if stats is not None:
        pipe.hgetall(stats)
    groups: Any
    try:
        groups, *rest = pipe.execute()
        advertised = rest[0] if rest else {}
    except redis.ResponseError as exc:
        if "no such key" in str(exc).lower():  # no face published yet
            return QueueReading()
        raise
    info: dict[Any, Any] | None = next((g for g in groups if g["name"] in (group, group.encode())), None)
    if info is None:
        return QueueReading()
    pending = int(info["pending"])
    lag = info.get("lag")
    if lag is None:  # unknown (Redis 6.2, or deleted entries): classifiers delete what they ack, so XLEN is the backlog, in O(1)
        lag = max(0, backlog(client, stream, group, acked_deleted=True) - pending)
    lag = int(lag)
    read = info.get("entries-read")
    delivered = int(read) if read is not None else None
    joined = bool(int(info.get("consumers", 0)))
    age = 0.0
    if lag and joined:
        last = info["last-delivered-id"]
        last = last.decode() if isinstance(last, bytes) else str(last)
        first: Any = client.xrange(stream, min=f"({last}", count=1)
        if first:
            age = max(0.0, now() * 1000.0 - int(first[0][0].split(b"-", 1)[0]))
    return QueueReading(lag + pending, lag, age, delivered, joined, service_ms(advertised, now()))


def combine(readings: list[QueueReading]) -> QueueReading:
    """The faces queue split in shards (``redis.faces_shards``) seen as one: sizes add up, the oldest face and slowest pass count."""
    if len(readings) == 1:
        return readings[0]
    delivered = [r.delivered for r in readings]
    return QueueReading(
        backlog=sum(r.backlog for r in readings),
        waiting=sum(r.waiting for r in readings),
        oldest_age_ms=max(r.oldest_age_ms for r in readings),
        delivered=None if None in delivered else sum(d or 0 for d in delivered),
        joined=any(r.joined for r in readings),
        service_ms=max(r.service_ms for r in readings),
    )


class RedisQueueProbe:
    """The faces queue as the ``classifiers`` group sees it, read at most every ``period_s``; shared by a worker's sources.

    With several faces shards each is read and the readings combined: ingest's
    backpressure is about the classifiers as a whole, which serve every shard.

    How fast the classifiers take faces comes from the group's ``entries-read``
    counter (Redis 7+), read twice a period apart; with the number of faces
    waiting it predicts how long a face queued now would wait. Between two reads
    the probe adds the faces this worker queued itself, so many cameras cannot
    pour a whole period's worth of faces through a gate that is already shut.

    Only faces not yet delivered to a classifier count for the age. Faces a
    classifier has read are in its hands already; counting them would let a
    replica that died with a batch pending (claimed only after
    ``classifier.claim_idle_ms``) stall every camera for that long. And the age
    counts only once a classifier has joined the group: before that nobody is
    behind, the pipeline is starting (or ingest runs alone), and only
    ``ingest.backlog_max`` bounds the queue; the classifiers drop the faces that
    have gone stale meanwhile when they arrive.
    """

    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        metrics: IngestMetrics,
        period_s: float = 0.1,
        rate_window_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        shards: int = 1,
    ) -> None:
        self.client, self.keys, self.metrics, self.period_s, self.clock = client, keys, metrics, period_s, clock
        self.shards = keys.face_shards(shards)
        self.rate_window_s = rate_window_s
        self._reading, self._at = QueueReading(), -1e9
        self._since = 0  # faces this worker queued since the last reading
        self._delivered: deque[tuple[float, int]] = deque()  # (clock, entries-read)
        self._faults = fault_log("faces_queue_probe", log)
        self._lock = threading.Lock()
        self._reading_now = False  # a thread is reading Redis (outside the lock)

    def queued(self, faces: int) -> None:
        """This worker just queued ``faces``: count them as waiting until the next reading sees them."""
        with self._lock:
            self._since += faces

    def state(self) -> QueueState:
        """The latest reading, plus the faces queued since; read again when it is ``period_s`` old.

        The thread that finds the reading due reads Redis without holding the
        lock; the other sources go on with the last reading meanwhile (a round
        trip on a busy host takes milliseconds, and nine sources waited for it
        ten times a second).
        """
        with self._lock:
            now = self.clock()
            due = now - self._at >= self.period_s and not self._reading_now
            if due:
                self._at, self._reading_now, counted = now, True, self._since
        if due:
            try:
                fetched = self._fetch()
            finally:
                with self._lock:
                    self._reading_now = False
                    if fetched is not None:
                        self._apply(now, counted, *fetched)
        with self._lock:
            r = self._reading
            waiting = r.waiting + self._since if r.joined else 0
            return QueueState(r.backlog + self._since, r.oldest_age_ms, waiting, self._drain_rate(), r.service_ms)

    def _fetch(self) -> tuple[QueueReading, list[QueueReading]] | None:
        """The queue as Redis sees it now (combined, per shard); None when it cannot be read (the last reading stands)."""
        try:
            if len(self.shards) == 1:
                readings = [read_queue(self.client, self.shards[0], CLASSIFIER_GROUP, self.keys.classifier_stats)]
                return readings[0], readings
            # the stats hash once, not once per shard: every ingest process reads it ten times a second
            readings = [read_queue(self.client, shard, CLASSIFIER_GROUP, None) for shard in self.shards]
            advertised: Any = self.client.hgetall(self.keys.classifier_stats)
            return replace(combine(readings), service_ms=service_ms(advertised, time.time())), readings
        except (redis.ConnectionError, redis.TimeoutError):
            return None  # keep the last value; the publisher notices outages itself
        except redis.RedisError as exc:  # e.g. an ACL without XINFO: backpressure cannot work, say so
            self._faults.report("faces queue", type(exc).__name__, "ingest: cannot read the faces queue, backpressure is off until it can: %s", exc)
            return None

    def _apply(self, now: float, counted: int, reading: QueueReading, readings: list[QueueReading]) -> None:
        """Take a new reading (under the lock): the ``counted`` faces queued before it began are in it now.

        Faces queued while it was read stay counted on top (some may be in the
        reading too: an overestimate for a tenth of a second, never a gap).
        """
        self._reading, self._since = reading, self._since - counted
        if reading.delivered is not None:
            self._delivered.append((now, reading.delivered))
            while len(self._delivered) > 2 and now - self._delivered[1][0] >= self.rate_window_s:
                self._delivered.popleft()
        for shard, one in zip(self.shards, readings, strict=True):
            self.metrics.backlog.labels(shard, CLASSIFIER_GROUP).set(one.backlog)
        self.metrics.queue_age.set(reading.oldest_age_ms / 1000.0)

    def _drain_rate(self) -> float:
        if len(self._delivered) < 2:
            return 0.0
        (t0, n0), (t1, n1) = self._delivered[0], self._delivered[-1]
        return (n1 - n0) / (t1 - t0) if t1 - t0 >= self.period_s and n1 >= n0 else 0.0
