"""``XREAD`` over several streams (no group) that also works on a Redis Cluster.

One ``XREAD`` may name only streams of one slot there (else CROSSSLOT), and a
blocking read waits on one node. On a cluster client this reads each stream
in one pipeline (a round trip per node) and, while nothing came and the
caller would block, polls every :data:`POLL_S` until its block time is over.
A ``$`` position ("only what comes next") means nothing to a read that does
not block, so it is first pinned to the stream's newest entry, in the
caller's ``positions``, so nothing added between two polls is skipped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import redis

POLL_S = 0.01


def xread_streams(
    client: redis.Redis,
    positions: dict[str, str],
    count: int,
    block_ms: int | None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> list[Any]:
    """``XREAD COUNT count [BLOCK block_ms] STREAMS ...``: ``[(stream, entries), ...]`` of the streams that had entries."""
    if not isinstance(client, redis.RedisCluster) or len(positions) <= 1:
        reply: Any = client.xread(positions, count=count, block=block_ms)  # type: ignore[arg-type]
        return list(reply or [])
    for stream, position in positions.items():
        if position == "$":
            newest: Any = client.xrevrange(stream, count=1)
            positions[stream] = newest[0][0].decode() if newest else "0-0"
    deadline = clock() + (block_ms or 0) / 1000.0
    while True:
        pipe = client.pipeline(transaction=False)
        for stream, position in positions.items():
            pipe.xread({stream: position}, count=count)
        out = [item for got in pipe.execute() for item in (got or []) if item[1]]
        if out or not block_ms or clock() >= deadline:
            return out
        sleep(min(POLL_S, max(0.0, deadline - clock())))
