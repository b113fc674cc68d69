"""One Redis or a Redis Cluster: what differs between them, chosen once per client by :func:`topology_of`.

A cluster runs a transaction, a script or one ``XREADGROUP`` within one hash
slot only, so two writes that go together (a dead letter and its
acknowledgement, a session's end message and its checkpoint) are written one
after the other there, the one whose loss would hide the other first; and a
reader of several streams asks each in a pipeline (a round trip per node),
polling while it would block (``XREAD`` without a group too). One Redis does
both in one step. The scripts'
pipelines and the commit and close steps have strategies of their own
(``streams.scripts``, ``classifier.commit``, ``aggregator.session_close``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, Protocol

import redis

from emostream.streams.group_commands import StreamEntries

CLUSTER_POLL_S = 0.01  # how often a cluster reader of several streams looks again while it would block

Write = Callable[[Any], object]  # queues its commands on the client or pipeline it is given
Clock = Callable[[], float]
Sleep = Callable[[float], None]


class GroupReads(Protocol):
    """The two reads a topology combines (``streams.groups.GroupReader``), each guarded against ``NOGROUP``."""

    monotonic: Callable[[], float]
    sleep: Callable[[float], None]

    def xread(self, wanted: list[str], count: int, block_ms: int | None) -> StreamEntries:
        """One ``XREADGROUP`` of ``wanted``, ``count`` entries from each."""

    def xread_each(self, order: list[str], each: int) -> StreamEntries:
        """One non-blocking ``XREADGROUP`` per stream of ``order``, in one pipeline."""


class SingleRedis:
    """One Redis: one MULTI/EXEC writes keys anywhere, one ``XREADGROUP`` with a real ``BLOCK`` reads every stream."""

    def together(self, client: redis.Redis, first: Write, then: Write) -> None:
        """``first`` and ``then`` in one MULTI/EXEC: both or neither."""
        pipe = client.pipeline(transaction=True)
        first(pipe)
        then(pipe)
        pipe.execute()

    def read_count(self, per_stream: int, streams: int) -> int:
        """The ``count`` of a read that should give up to ``per_stream`` from each of ``streams``: it applies per stream."""
        return per_stream

    def read(self, reads: GroupReads, wanted: list[str], count: int, block_ms: int | None, named: bool) -> StreamEntries:
        return reads.xread(wanted, count, block_ms)

    def xread(
        self, client: redis.Redis, positions: dict[str, str], count: int, block_ms: int | None, sleep: Sleep, clock: Clock
    ) -> list[Any]:
        """``XREAD`` (no group) of every stream at its position: ``[(stream, entries), ...]``."""
        reply: Any = client.xread(positions, count=count, block=block_ms)  # type: ignore[arg-type]
        return list(reply or [])


class ClusterRedis:
    """A Redis Cluster: writes of two slots one after the other, several streams read one by one in a pipeline."""

    def __init__(self) -> None:
        self._turn = 0  # the stream the next read of every followed stream starts at

    def together(self, client: redis.Redis, first: Write, then: Write) -> None:
        """``first`` alone, then ``then`` in a MULTI/EXEC (its slot's): a crash between the two repeats ``first``, never loses it."""
        first(client)
        pipe = client.pipeline(transaction=True)
        then(pipe)
        pipe.execute()

    def read_count(self, per_stream: int, streams: int) -> int:
        """The ``count`` of a read that should give up to ``per_stream`` from each of ``streams``: it is shared out."""
        return per_stream * streams

    def read(self, reads: GroupReads, wanted: list[str], count: int, block_ms: int | None, named: bool) -> StreamEntries:
        """Streams ``named`` by the caller in its order, ``count`` each; else every followed one, ``count`` shared out,
        starting at the next stream every time so none starves. A single stream is read as on one Redis."""
        if len(wanted) == 1:
            return reads.xread(wanted, count, block_ms)
        if named:
            return self._poll(reads, wanted, count, block_ms)
        start = self._turn % len(wanted)
        self._turn += 1
        return self._poll(reads, wanted[start:] + wanted[:start], max(1, math.ceil(count / len(wanted))), block_ms)

    def _poll(self, reads: GroupReads, order: list[str], each: int, block_ms: int | None) -> StreamEntries:
        return poll(lambda: reads.xread_each(order, each), block_ms, reads.sleep, reads.monotonic)

    def xread(
        self, client: redis.Redis, positions: dict[str, str], count: int, block_ms: int | None, sleep: Sleep, clock: Clock
    ) -> list[Any]:
        """``XREAD`` (no group) of each stream in one pipeline, polled while the caller would block.

        A ``$`` position ("only what comes next") means nothing to a read that
        does not block, so it is first pinned to the stream's newest entry, in
        the caller's ``positions``, so nothing added between two polls is skipped.
        """
        if len(positions) <= 1:
            return SingleRedis().xread(client, positions, count, block_ms, sleep, clock)
        for stream, position in positions.items():
            if position == "$":
                newest: Any = client.xrevrange(stream, count=1)
                positions[stream] = newest[0][0].decode() if newest else "0-0"

        def once() -> list[Any]:
            pipe = client.pipeline(transaction=False)
            for stream, position in positions.items():
                pipe.xread({stream: position}, count=count)
            return [item for got in pipe.execute() for item in (got or []) if item[1]]

        return poll(once, block_ms, sleep, clock)


def poll(once: Callable[[], list[Any]], block_ms: int | None, sleep: Sleep = time.sleep, clock: Clock = time.monotonic) -> list[Any]:
    """``once()`` until it returns something or ``block_ms`` is over (None, 0: a single try), every :data:`CLUSTER_POLL_S`."""
    deadline = clock() + (block_ms or 0) / 1000.0
    while True:
        got = once()
        if got or block_ms is None or clock() >= deadline:
            return got
        sleep(min(CLUSTER_POLL_S, max(0.0, deadline - clock())))


Topology = SingleRedis | ClusterRedis


def topology_of(client: redis.Redis) -> Topology:
    """The strategy that suits ``client``: :class:`ClusterRedis` for a cluster client."""
    return ClusterRedis() if isinstance(client, redis.RedisCluster) else SingleRedis()
