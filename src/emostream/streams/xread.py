"""``XREAD`` over several streams (no group) that also works on a Redis Cluster (see ``streams.topology``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import redis

from emostream.streams.topology import topology_of


def xread_streams(
    client: redis.Redis,
    positions: dict[str, str],
    count: int,
    block_ms: int | None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> list[Any]:
    """``XREAD COUNT count [BLOCK block_ms] STREAMS ...``: ``[(stream, entries), ...]`` of the streams that had entries.

    On a cluster a ``$`` position is pinned in ``positions`` to the stream's newest entry (see ``ClusterRedis.xread``).
    """
    return topology_of(client).xread(client, positions, count, block_ms, sleep, clock)
