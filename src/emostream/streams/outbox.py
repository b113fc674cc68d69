"""The classifier's commit: publish a batch's events and notes, then acknowledge its faces, never publishing an event twice.

On one Redis this is one MULTI/EXEC (:class:`SingleOutbox`): the events, the
"dropped" notes and the XACK+XDEL of the faces all land or none does, so a
face is acknowledged exactly when its event is out.

On a Redis Cluster the events of a source (``<prefix>:events:<source>``), the
lifecycle stream and the faces shards are in different slots, and no
transaction spans slots. :class:`ClusterOutbox` therefore commits in three
steps, each safe to repeat:

1. per source, one Lua call in the events stream's slot publishes the events
   whose ids it has not published yet (a guard set of published ids, in the
   same slot, ``<prefix>:published:{<prefix>:events:<source>}:<bucket>``);
2. the "dropped" notes go to the lifecycle stream; the aggregator counts each
   face once however often it is announced (one "seen" set for events and
   drops), so a repeated note is harmless;
3. the faces are acknowledged and deleted on their shards.

A classifier that dies between the steps leaves its faces pending; another
replica claims them after ``classifier.claim_idle_ms`` and commits the batch
again. Step 1 then skips the events already out (an event id is
deterministic, see ``FaceJob.event_id``), so a face still gives one event.

**The guard window.** Ids are kept in sets of time buckets ``window_ms`` wide;
a call looks in the current and the previous bucket, so an id is recognised
for at least ``window_ms`` after it was published, and a bucket expires at
the end of the window after its own (a few seconds of margin for clocks), so
about two are kept. :func:`guard_window_ms` sizes the
window from the redelivery window: a face is redelivered at the earliest
``claim_idle_ms`` after its previous delivery, and at most ``max_deliveries``
times. A replay later than the window (every classifier down longer than
that with a batch half committed) would publish those events again.

**Memory.** A guard holds each event id of the last one to two windows: at
``r`` faces/s that is at most about ``2 × r × window_ms / 1000`` members,
about 60 bytes each for the usual ids (``benchmarks/outbox.py`` measures it;
figures in docs/decisions.md, #12), spread over the masters with the sources.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import redis

from emostream.streams.keys import LIFECYCLE_MAXLEN, Keys
from emostream.streams.wire import Encoded

# KEYS: events stream, guard of the current bucket, guard of the previous one.
# The event goes out before its id is recorded: a script that fails between the two (out of memory)
# can repeat an event, which readers recognise by its id, but never lose one.
# ARGV: MAXLEN of the stream, guard expiry (unix s), then per event: its id, 2 × its field count, its fields.
PUBLISH_ONCE = """
local published = 0
local a = 3
while a <= #ARGV do
  local id = ARGV[a]
  local n = tonumber(ARGV[a + 1])
  a = a + 2
  if redis.call('SISMEMBER', KEYS[2], id) == 0 and redis.call('SISMEMBER', KEYS[3], id) == 0 then
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(ARGV, a, a + n - 1))
    redis.call('SADD', KEYS[2], id)
    published = published + 1
  end
  a = a + n
end
redis.call('EXPIREAT', KEYS[2], ARGV[2])
return published
"""

MIN_WINDOW_MS = 60_000
EXPIRY_MARGIN_S = 5  # for clocks of classifier hosts a little apart from the masters'


def guard_window_ms(claim_idle_ms: int, max_deliveries: int) -> int:
    """How long a published id is remembered: twice the time ``max_deliveries`` redeliveries take at the earliest, at least a minute."""
    return max(MIN_WINDOW_MS, 2 * claim_idle_ms * max_deliveries)


@dataclass(frozen=True)
class Publication:
    """One event to publish: its stream, its deterministic id, and the encoded entry."""

    stream: str
    event_id: str
    fields: Encoded


class Outbox(Protocol):
    def commit(self, events: Sequence[Publication], notes: Sequence[Encoded], done: Mapping[str, Sequence[bytes]]) -> int:
        """Publish ``events`` and the lifecycle ``notes``, then acknowledge and delete ``done`` (shard -> entry ids); the events published."""
        ...


class SingleOutbox:
    """One Redis: everything in one MULTI/EXEC."""

    def __init__(self, client: redis.Redis, keys: Keys, group: str, events_maxlen: int) -> None:
        self.client, self.keys, self.group, self.events_maxlen = client, keys, group, events_maxlen

    def commit(self, events: Sequence[Publication], notes: Sequence[Encoded], done: Mapping[str, Sequence[bytes]]) -> int:
        pipe = self.client.pipeline(transaction=True)
        for event in events:
            pipe.xadd(event.stream, event.fields, maxlen=self.events_maxlen, approximate=True)  # type: ignore[arg-type]
        for note in notes:
            pipe.xadd(self.keys.lifecycle, note, maxlen=LIFECYCLE_MAXLEN, approximate=True)  # type: ignore[arg-type]
        _finish(pipe, self.group, done)
        pipe.execute()
        return len(events)


class ClusterOutbox:
    """A Redis Cluster: per source a guarded Lua publish, then the notes, then the acknowledgements (see the module docstring)."""

    def __init__(
        self, client: redis.Redis, keys: Keys, group: str, events_maxlen: int, window_ms: int, clock: Callable[[], float] = time.time
    ) -> None:
        self.client, self.keys, self.group, self.events_maxlen = client, keys, group, events_maxlen
        self.window_ms, self.clock = window_ms, clock
        self._script = client.register_script(PUBLISH_ONCE)
        client.script_load(PUBLISH_ONCE)  # on every master now, so the first batches take the pipelined path

    def commit(self, events: Sequence[Publication], notes: Sequence[Encoded], done: Mapping[str, Sequence[bytes]]) -> int:
        by_stream: dict[str, list[Publication]] = defaultdict(list)
        for event in events:
            by_stream[event.stream].append(event)
        bucket = int(self.clock() * 1000) // self.window_ms
        expire_at = (bucket + 2) * self.window_ms // 1000 + EXPIRY_MARGIN_S  # read as the previous bucket until the end of the next
        calls: list[Call] = []
        for stream, batch in by_stream.items():
            args: list[Any] = [self.events_maxlen, expire_at]
            for event in batch:
                args += [event.event_id, 2 * len(event.fields)]
                for name, value in event.fields.items():
                    args += [name, value]
            calls.append(([stream, self.keys.published(stream, bucket), self.keys.published(stream, bucket - 1)], args))
        published = self._publish(calls)
        for note in notes:
            self.client.xadd(self.keys.lifecycle, note, maxlen=LIFECYCLE_MAXLEN, approximate=True)  # type: ignore[arg-type]
        pipe = self.client.pipeline(transaction=False)  # one round trip per node; a shard's XACK precedes its XDEL
        _finish(pipe, self.group, done)
        pipe.execute()
        return published

    def _publish(self, calls: list[Call]) -> int:
        """The Lua calls, pipelined per master: a round trip per master, not per source.

        redis-py's cluster pipeline refuses scripts, so the calls are grouped by
        the master the client's slot map names and sent on that node's own
        connection. A call that comes back with an error (MOVED during a
        resharding or failover, NOSCRIPT on a promoted replica) or a node that
        does not answer is made again through the cluster client, which follows
        the new slot map and loads the script; the guard makes the repeat harmless.
        """
        cluster: Any = self.client
        groups: dict[str, tuple[Any, list[Call]]] = {}
        for call in calls:
            node = cluster.get_node_from_key(call[0][0])
            groups.setdefault(node.name, (cluster.get_redis_connection(node), []))[1].append(call)
        published = 0
        for connection, group in groups.values():
            pipe = connection.pipeline(transaction=False)
            for keys, args in group:
                pipe.evalsha(self._script.sha, len(keys), *keys, *args)
            try:
                replies = pipe.execute(raise_on_error=False)
            except RETRYABLE:
                replies = [None] * len(group)
            for (keys, args), reply in zip(group, replies, strict=True):
                if reply is None or isinstance(reply, Exception):
                    reply = self._script(keys=keys, args=args)
                published += int(reply)
        return published


Call = tuple[list[str], list[Any]]
RETRYABLE = (redis.ConnectionError, redis.TimeoutError, OSError)


def _finish(pipe: Any, group: str, done: Mapping[str, Sequence[bytes]]) -> None:
    """Acknowledge and delete the faces: crops stay in Redis only while they wait."""
    for stream, ids in done.items():
        if ids:
            pipe.xack(stream, group, *ids)
            pipe.xdel(stream, *ids)


def make_outbox(client: redis.Redis, keys: Keys, group: str, events_maxlen: int, claim_idle_ms: int, max_deliveries: int) -> Outbox:
    """The commit that suits ``client``: a cluster client gets :class:`ClusterOutbox`."""
    if isinstance(client, redis.RedisCluster):
        return ClusterOutbox(client, keys, group, events_maxlen, guard_window_ms(claim_idle_ms, max_deliveries))
    return SingleOutbox(client, keys, group, events_maxlen)
