"""The commit step on a Redis Cluster: a guarded publish per source, the drop notices, then the acknowledgements.

Details at :class:`ClusterCommit`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import redis

from emostream.classifier.commit import DROP_REASON, Classified, Commit, Committed, Dropped, ScriptCommit
from emostream.streams.commit_scripts import CommitScripts
from emostream.streams.keys import LIFECYCLE_MAXLEN, Keys
from emostream.streams.lifecycle import FacesDropped, encode_lifecycle
from emostream.streams.scripts import ScriptCall

MIN_WINDOW_MS = 60_000
EXPIRY_MARGIN_S = 5  # for clocks of classifier hosts a little apart from the masters'

RETRYABLE = (redis.ConnectionError, redis.TimeoutError, OSError)


def guard_window_ms(claim_idle_ms: int, max_deliveries: int) -> int:
    """How long a published id is remembered: twice the time ``max_deliveries`` redeliveries take at the earliest, at least a minute."""
    return max(MIN_WINDOW_MS, 2 * claim_idle_ms * max_deliveries)


class ClusterCommit:
    """A Redis Cluster: per source a guarded Lua publish, then the notices, then the acknowledgements.

    A source's events go in calls of at most ``chunk``, for the reason
    ``ScriptCommit`` gives: a long script holds up its master's other clients.

    A single Redis commits a batch with one Lua call (``commit.ScriptCommit``). On
    a cluster a source's events (``<prefix>:events:<source>``), the lifecycle
    stream and the faces shards are in different slots, and neither a script nor
    a transaction spans slots. :class:`ClusterCommit` therefore commits in three
    steps, each safe to repeat:

    1. per source, one Lua call in the events stream's slot publishes the events
       whose ids it has not published yet (a guard set of published ids, in the
       same slot, ``<prefix>:published:{<prefix>:events:<source>}:<bucket>``);
       each event goes out before its id is recorded, so a script cut short (out
       of memory) may repeat an event, which readers recognise by its id, but
       never loses one;
    2. the drop notices (one :class:`~emostream.streams.lifecycle.FacesDropped`
       per source and session) go to the lifecycle stream; the aggregator counts
       each face once however often it is announced (one "seen" set for events
       and drops), so a repeated notice is harmless;
    3. only then are the faces acknowledged and deleted on their shards.

    A classifier that dies between the steps leaves its faces pending; another
    replica claims them after ``classifier.claim_idle_ms`` and commits the batch
    again. Step 1 then skips the events already out (an event id is
    deterministic, see ``FaceJob.event_id``), so a face still gives one event.
    What the commit reports as done is what its ``XACK`` acknowledged, as on one
    Redis: the faces another commit had finished are not counted twice.

    **The guard window.** Ids are kept in sets of time buckets ``window_ms`` wide;
    a call looks in the current and the previous bucket, so an id is recognised
    for at least ``window_ms`` after it was published, and a bucket expires at
    the end of the window after its own (a few seconds of margin for clocks), so
    about two are kept. :func:`guard_window_ms` sizes the window from the
    redelivery window: a face is redelivered at the earliest ``claim_idle_ms``
    after its previous delivery, and at most ``max_deliveries`` times. A replay
    later than the window (every classifier down longer than that with a batch
    half committed) would publish those events again.

    **Memory.** A guard holds each event id of the last one to two windows: at
    ``r`` faces/s that is at most about ``2 × r × window_ms / 1000`` members,
    about 60 bytes each for the usual ids (``benchmarks/outbox.py`` measures it;
    figures in docs/decisions.md, #12), spread over the masters with the sources.
    """

    def __init__(
        self,
        client: redis.Redis,  # a RedisCluster, typed as every module takes its client (see streams.connection)
        keys: Keys,
        group: str,
        events_maxlen: int,
        window_ms: int,
        clock: Callable[[], float] = time.time,
        chunk: int = 1024,
    ) -> None:
        self.client, self.keys, self.group, self.events_maxlen = client, keys, group, events_maxlen
        self.window_ms, self.clock, self.chunk = window_ms, clock, chunk
        self.scripts = CommitScripts(client, keys)
        self.scripts.load_publish_once(client)

    def __call__(self, classified: Sequence[Classified], dropped: Sequence[Dropped]) -> Committed:
        self.publish(classified, dropped)
        return self.finish(classified, dropped)

    def publish(self, classified: Sequence[Classified], dropped: Sequence[Dropped]) -> int:
        """Steps 1 and 2: the events not published yet, and the drop notices; returns the events this call published."""
        by_source: dict[str, list[Classified]] = {}
        for face in classified:
            by_source.setdefault(face.source, []).append(face)
        bucket = int(self.clock() * 1000) // self.window_ms
        expire_at = (bucket + 2) * self.window_ms // 1000 + EXPIRY_MARGIN_S  # read as the previous bucket until the end of the next
        calls: list[ScriptCall] = []
        for source, faces in by_source.items():
            stream = self.keys.events(source)
            for start in range(0, len(faces), self.chunk):
                events = [(face.event_id, face.event) for face in faces[start : start + self.chunk]]
                calls.append(self.scripts.publish_events_once(stream, bucket, self.events_maxlen, expire_at, events))
        published = self._run(calls)
        if dropped:
            by_session: dict[tuple[str, str], list[str]] = {}
            for drop in dropped:
                by_session.setdefault((drop.source, drop.session), []).append(drop.event_id)
            pipe = self.client.pipeline(transaction=False)  # one slot: one round trip
            for (source, session), ids in by_session.items():
                notice: Any = encode_lifecycle(FacesDropped(source, session, DROP_REASON, tuple(ids)))
                pipe.xadd(self.keys.lifecycle, notice, maxlen=LIFECYCLE_MAXLEN, approximate=True)
            pipe.execute()
        return published

    def finish(self, classified: Sequence[Classified], dropped: Sequence[Dropped]) -> Committed:
        """Step 3: acknowledge and delete the faces, one round trip per node; what this call acknowledged."""
        shards: dict[str, tuple[list[bytes], list[bytes]]] = {}
        for face in classified:
            shards.setdefault(face.stream, ([], []))[0].append(face.entry_id)
        for drop in dropped:
            shards.setdefault(drop.stream, ([], []))[1].append(drop.entry_id)
        pipe = self.client.pipeline(transaction=False)
        counted: list[int] = []  # per reply: 0 classified, 1 dropped, -1 an XDEL
        for stream, (events, drops) in shards.items():
            for kind, ids in ((0, events), (1, drops)):
                if ids:
                    pipe.xack(stream, self.group, *ids)
                    counted.append(kind)
            # Deleted even where another commit acknowledged them: their events are out (steps 1-2).
            pipe.xdel(stream, *events, *drops)
            counted.append(-1)
        done = [0, 0]
        for kind, reply in zip(counted, pipe.execute(), strict=True):
            if kind >= 0:
                done[kind] += int(reply)
        return Committed(done[0], done[1])

    def _run(self, calls: list[ScriptCall]) -> int:
        """The Lua calls, pipelined per master: a round trip per master, not per source.

        redis-py's cluster pipeline refuses scripts, so the calls are grouped by
        the master the client's slot map names and sent on that node's own
        connection. A call that comes back with an error (MOVED during a
        resharding or failover, NOSCRIPT on a promoted replica) or a node that
        does not answer is made again through the cluster client, which follows
        the new slot map and loads the script; the guard makes the repeat harmless.
        """
        cluster: Any = self.client
        groups: dict[str, tuple[Any, list[ScriptCall]]] = {}
        for call in calls:
            node = cluster.get_node_from_key(call.keys[0])
            groups.setdefault(node.name, (cluster.get_redis_connection(node), []))[1].append(call)
        published = 0
        for connection, group in groups.values():
            pipe = connection.pipeline(transaction=False)
            for call in group:
                pipe.evalsha(call.script.sha, len(call.keys), *call.keys, *call.args)
            try:
                replies = pipe.execute(raise_on_error=False)
            except RETRYABLE:
                replies = [None] * len(group)
            for call, reply in zip(group, replies, strict=True):
                if reply is None or isinstance(reply, Exception):
                    reply = call()
                published += int(reply)
        return published


def make_commit(client: redis.Redis, keys: Keys, group: str, events_maxlen: int, claim_idle_ms: int, max_deliveries: int) -> Commit:
    """The commit that suits ``client``: :class:`ClusterCommit` for a cluster client, ``ScriptCommit`` for one Redis."""
    if isinstance(client, redis.RedisCluster):
        return ClusterCommit(client, keys, group, events_maxlen, guard_window_ms(claim_idle_ms, max_deliveries))
    return ScriptCommit(client, keys, group, events_maxlen)
