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

Details at :func:`collect_batch`.
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
    ready: Callable[[], bool] | None = None,
) -> list[T]:
    """Block up to ``idle_block_ms`` for a first entry, then fill until full, the wait is over or ``ready()``.

    Returns an empty list when nothing arrived, so the caller can check whether
    it should stop. The deadline runs on a monotonic clock from the moment the
    first entries were read. ``ready`` (default: never) says that the next
    stage waits for work, which ends the fill at once.

    Why the fill stops when ``ready()`` says so: a replica that reads the next
    batch while the model works on this one (``classifier.overlap``) has no reason
    to hold faces back while the model waits for work. So at low load a face goes
    to the model at once, and ``batch_wait_ms`` only bounds how long a batch keeps
    filling while the model is busy: waiting then costs nothing, since the model
    could not take the batch sooner anyway.
    """
    batch = read(batch_max, idle_block_ms)
    if not batch:
        return []
    deadline = clock() + batch_wait_ms / 1000.0
    while len(batch) < batch_max:
        if ready is not None and ready():
            break
        remaining = deadline - clock()
        if remaining <= 0:
            break
        sleep(min(remaining, poll_ms / 1000.0))
        batch.extend(read(batch_max - len(batch), None))
    return batch
