"""The throughput gauge's meter: faces per second over a sliding window."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class RateMeter:
    """Events per second over a sliding window, for the throughput gauge.

    A gauge of our own rather than only ``rate()`` of the counter: a dashboard
    without PromQL (or ``/metrics`` read by eye) still shows faces/s.
    """

    def __init__(self, window_s: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s = window_s
        self.clock = clock
        self._marks: deque[tuple[float, int]] = deque()
        self._started = clock()
        self._lock = threading.Lock()  # the commit stage adds, the take stage reads while idle

    def add(self, count: int) -> None:
        with self._lock:
            self._marks.append((self.clock(), count))

    def rate(self) -> float:
        with self._lock:
            now = self.clock()
            while self._marks and self._marks[0][0] < now - self.window_s:
                self._marks.popleft()
            span = min(self.window_s, max(now - self._started, 1e-3))
            return sum(n for _, n in self._marks) / span
