"""How far behind the classifiers are: the size of their queue and the age of its oldest face.

Both are read from Redis at most every ``period_s`` and shared by all
sources of a worker, so the cost does not grow with the number of cameras.
The age is cheap: a stream entry's id is the Redis server's clock (ms) when
it was added, so the oldest undelivered face's id, compared with this host's
clock, is how long it has waited. (Redis's own ``TIME`` would avoid clock skew
between hosts, but the ACL rule in docs/deploy.md does not grant it; hosts
are expected to keep their clocks in sync, as the latency figures of every
event already assume.)

Only faces not yet delivered to a classifier count for the age. Faces a
classifier has read are in its hands already; counting them would let a
replica that died with a batch pending (claimed only after
``classifier.claim_idle_ms``) stall every camera for that long. And the age
counts only once a classifier has joined the group: before that nobody is
behind, the pipeline is starting (or ingest runs alone), and only
``ingest.backlog_max`` bounds the queue; the classifiers drop the faces that
have gone stale meanwhile when they arrive.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import redis

from emostream.ingest.policy import QueueState
from emostream.keys import CLASSIFIER_GROUP, Keys
from emostream.metrics import IngestMetrics
from emostream.redis_io import backlog

log = logging.getLogger(__name__)


def read_queue(client: redis.Redis, stream: str, group: str, now: Callable[[], float] = time.time) -> QueueState:
    """Backlog (lag + pending) and the age of the oldest undelivered entry, in one or two round trips."""
    try:
        groups: Any = client.xinfo_groups(stream)
    except redis.ResponseError as exc:
        if "no such key" in str(exc).lower():  # no face published yet
            return QueueState()
        raise
    info: dict[Any, Any] | None = next((g for g in groups if g["name"] in (group, group.encode())), None)
    if info is None:
        return QueueState()
    lag = info.get("lag")
    if lag is None:  # unknown after trimming: count it the slow way
        size = backlog(client, stream, group)
        lag = size - int(info["pending"])
    size = int(lag) + int(info["pending"])
    if not lag or not int(info.get("consumers", 0)):
        return QueueState(size, 0.0)
    last = info["last-delivered-id"]
    last = last.decode() if isinstance(last, bytes) else str(last)
    first: Any = client.xrange(stream, min=f"({last}", count=1)
    if not first:
        return QueueState(size, 0.0)
    now_ms = now() * 1000.0
    enqueued_ms = int(first[0][0].split(b"-", 1)[0])
    return QueueState(size, max(0.0, now_ms - enqueued_ms))


class RedisQueueProbe:
    """The faces queue as the ``classifiers`` group sees it, refreshed at most every ``period_s``."""

    def __init__(
        self, client: redis.Redis, keys: Keys, metrics: IngestMetrics, period_s: float = 0.2, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.client, self.keys, self.metrics, self.period_s, self.clock = client, keys, metrics, period_s, clock
        self._state, self._at = QueueState(), -1e9
        self._warned = False
        self._lock = threading.Lock()

    def state(self) -> QueueState:
        with self._lock:
            now = self.clock()
            if now - self._at >= self.period_s:
                try:
                    self._state = read_queue(self.client, self.keys.faces, CLASSIFIER_GROUP)
                except (redis.ConnectionError, redis.TimeoutError):
                    pass  # keep the last value; the publisher notices outages itself
                except redis.RedisError as exc:  # e.g. an ACL without XINFO: backpressure cannot work, say so
                    if not self._warned:
                        log.warning("ingest: cannot read the faces queue, backpressure is off until it can: %s", exc)
                        self._warned = True
                self._at = now
                self.metrics.backlog.labels(self.keys.faces, CLASSIFIER_GROUP).set(self._state.backlog)
                self.metrics.queue_age.set(self._state.oldest_age_ms / 1000.0)
            return self._state
