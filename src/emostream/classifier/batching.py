"""Collect a batch: up to ``batch_max`` entries, waiting at most ``batch_wait_ms`` after the first.

The reader is injected (``read(count, block_ms) -> entries``, ``block_ms=None``
meaning "do not block"), so the policy is tested with a fake stream and a fake
clock.

Why the fill wait is timed here and not by ``XREADGROUP BLOCK``: Redis checks
blocked clients' timeouts on its ``hz`` timer (10 per second by default), so a
``BLOCK 20`` that no entry ends returns after about 100 ms, five times the
configured wait. Blocking is kept for the idle wait for a first entry, which an
arriving entry ends at once; the fill phase polls without blocking every
``poll_ms`` until the deadline, a few cheap round trips per batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
Reader = Callable[[int, int | None], list[T]]


def collect_batch(
    read: Reader[T],
    batch_max: int,
    batch_wait_ms: float,
    idle_block_ms: int = 500,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    poll_ms: float = 2.0,
) -> list[T]:
    """Block up to ``idle_block_ms`` for a first entry, then fill until full or the wait is over.

    Returns an empty list when nothing arrived, so the caller can check whether
    it should stop. The deadline runs on a monotonic clock from the moment the
    first entries were read.
    """
    batch = read(batch_max, idle_block_ms)
    if not batch:
        return []
    deadline = clock() + batch_wait_ms / 1000.0
    while len(batch) < batch_max:
        remaining = deadline - clock()
        if remaining <= 0:
            break
        sleep(min(remaining, poll_ms / 1000.0))
        batch.extend(read(batch_max - len(batch), None))
    return batch
