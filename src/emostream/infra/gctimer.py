"""Python's cyclic garbage collector on a timer, for a process whose garbage reference counting frees.

The aggregator's reorder buffer keeps tens of thousands of young objects
alive, which the collector rescanned every few hundred allocations: a third of
the aggregator's time with the default thresholds, a tenth with raised ones.
Nearly all its garbage is freed by reference counting, so the collector runs
every ``period_s`` instead.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

GC_PERIOD_S = 10.0


class TimedCollector:
    def __init__(self, period_s: float = GC_PERIOD_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.period_s, self.clock = period_s, clock
        self._last = clock()

    def start(self) -> None:
        """Move what exists now out of the collector's sight, and stop collecting by allocation counts."""
        gc.freeze()
        gc.disable()

    def tick(self) -> None:
        """Collect if a period has passed since the last collection."""
        now = self.clock()
        if now - self._last >= self.period_s:
            self._last = now
            gc.collect()
