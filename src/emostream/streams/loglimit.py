"""At most a few log lines a minute per kind of repeated event; the rest summed into one line.

A flood of bad entries (anyone who can write to a stream can send thousands a
second) must not become a flood of log lines: every entry is still counted in
a metric and kept in the dead-letter stream, so the log needs only the first
few of each kind and how many more there were.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

WINDOW_S = 60.0
PER_WINDOW = 5


class LogLimiter:
    def __init__(self, logger: logging.Logger, per_window: int = PER_WINDOW, window_s: float = WINDOW_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger, self.per_window, self.window_s, self.clock = logger, per_window, window_s, clock
        self._windows: dict[str, tuple[float, int]] = {}  # kind -> (window start, lines asked for in it)

    def warning(self, kind: str, message: str, *args: object) -> None:
        """Log ``message`` unless ``kind`` has had its lines this window; the first line after a window says how many were left out."""
        now = self.clock()
        start, seen = self._windows.get(kind, (now, 0))
        if now - start >= self.window_s:
            if seen > self.per_window:
                self.logger.warning("%d more like the last (%s) in %.0f s, not logged; counted in the metrics", seen - self.per_window, kind,
                                    now - start)
            start, seen = now, 0
        self._windows[kind] = (start, seen + 1)
        if seen < self.per_window:
            self.logger.warning(message, *args)
