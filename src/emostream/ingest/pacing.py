"""Which decoded frames get analysed.

Live sources: the newest frame only, at most ``fps`` per second; the frames in
between are skipped and counted, so latency never builds up. Files: every
frame (or every n-th), as fast as the pipeline goes or at the clip's own pace.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class LivePacer:
    """Admits at most ``fps`` frames per second, on a monotonic clock.

    A frame may come up to half an interval early: the schedule then advances
    by exactly one interval, so the long-run rate never exceeds ``fps``, and a
    camera slightly faster than ``fps`` is not aliased down to half of it.
    """

    def __init__(self, fps: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = 1.0 / fps
        self.tolerance = self.interval / 2
        self.clock = clock
        self._next = -float("inf")

    def admit(self) -> bool:
        now = self.clock()
        if now < self._next - self.tolerance:
            return False
        behind = now - self._next >= self.interval
        self._next = now + self.interval if behind else self._next + self.interval
        return True

    def wait_s(self) -> float:
        """Seconds until the next frame would be admitted."""
        return max(0.0, self._next - self.tolerance - self.clock())


class FilePacer:
    """Every n-th frame; with ``realtime``, waits until the frame's presentation time."""

    def __init__(
        self,
        every_nth: int = 1,
        realtime: bool = False,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.every_nth = every_nth
        self.realtime = realtime
        self.clock = clock
        self.sleep = sleep
        self._count = 0
        self._origin: tuple[float, float] | None = None  # (clock, pts) of the first frame

    def skip(self) -> None:
        """Count a frame without analysing it (one already analysed before a restart)."""
        self._count += 1

    def admit(self, pts: float) -> bool:
        index = self._count
        self._count += 1
        if index % self.every_nth:
            return False
        if self.realtime:
            if self._origin is None:
                self._origin = (self.clock(), pts)
            due = self._origin[0] + (pts - self._origin[1])
            delay = due - self.clock()
            if delay > 0:
                self.sleep(delay)
        return True
