"""Reconnect delays: exponential with jitter, capped.

Jitter matters when one ingest host loses a switch and all its cameras come
back at once: without it every source would retry in the same instant.
"""

from __future__ import annotations

import random
from collections.abc import Callable


class Backoff:
    """``next()`` gives initial, 2x, 4x ... up to ``maximum`` seconds, each scaled by a random 1 ± ``jitter``."""

    def __init__(self, initial: float, maximum: float, jitter: float = 0.2, rand: Callable[[], float] = random.random) -> None:
        if initial <= 0 or maximum < initial:
            raise ValueError("need 0 < initial <= maximum")
        self.initial, self.maximum, self.jitter, self.rand = initial, maximum, jitter, rand
        self.attempts = 0

    def next(self) -> float:
        base = min(self.initial * 2.0 ** min(self.attempts, 60), self.maximum)
        self.attempts += 1
        return base * (1.0 + self.jitter * (2.0 * self.rand() - 1.0))

    def reset(self) -> None:
        self.attempts = 0
