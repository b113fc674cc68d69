"""Each source's annotated live frame rendered once per interval, whatever the number of viewers.

Rendering a frame (read the preview and events from Redis, decode, draw,
encode a JPEG) costs milliseconds and Redis round trips; done per viewer, 200
viewers cost 200 times that. Here the first viewer that finds a source's
frame older than the interval renders it while the others wait for it, and
every viewer sends the same bytes. No background thread: with no viewer
nothing is rendered, and a source no one watches costs nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Slot:
    seq: int = 0
    jpeg: bytes | None = None
    at: float = float("-inf")
    rendering: bool = False


class FrameBroadcast:
    def __init__(self, render: Callable[[str], bytes | None], interval_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._render = render
        self.interval_s = interval_s
        self._clock = clock
        self._slots: dict[str, _Slot] = {}
        self._cond = threading.Condition()
        self.renders = 0  # how many frames were rendered; what the fan-out saves is visible in tests

    def next_frame(self, source: str, after: int, timeout_s: float) -> tuple[int, bytes | None]:
        """The newest frame after sequence number ``after`` (waiting for it up to ``timeout_s``).

        Returns (its sequence number, its JPEG or None when the source has no
        frame to show); (``after``, None) when nothing new came in time.
        """
        deadline = self._clock() + timeout_s
        with self._cond:
            while True:
                slot = self._slots.setdefault(source, _Slot())
                age = self._clock() - slot.at
                if slot.seq > after and age < self.interval_s:
                    return slot.seq, slot.jpeg
                if not slot.rendering and age >= self.interval_s:
                    slot.rendering = True
                    break
                left = deadline - self._clock()
                if left <= 0:
                    return after, None
                self._cond.wait(min(left, max(self.interval_s - age, 0.001)) if not slot.rendering else left)
        jpeg: bytes | None = None
        try:
            jpeg = self._render(source)
        finally:
            with self._cond:
                slot.seq, slot.jpeg, slot.at, slot.rendering = slot.seq + 1, jpeg, self._clock(), False
                self.renders += 1
                self._cond.notify_all()
        return slot.seq, jpeg
