"""A dependency-free progress bar for long jobs; quiet lines instead when not on a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, total: int | None, label: str, out: TextIO = sys.stderr, width: int = 30) -> None:
        self.total = total if total and total > 0 else None
        self.label = label
        self.out = out
        self.width = width
        self.done = 0
        self.tty = out.isatty()
        self.started = time.monotonic()
        self._last_decile = -1
        self._last_draw = 0.0

    def update(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if self.tty and now - self._last_draw < 0.1:
            return
        self._last_draw = now
        if self.tty:
            self.out.write("\r" + self._line())
            self.out.flush()
        elif self.total:
            decile = self.done * 10 // self.total
            if decile != self._last_decile:
                self._last_decile = decile
                print(self._line(), file=self.out, flush=True)

    def _line(self) -> str:
        rate = self.done / max(time.monotonic() - self.started, 1e-6)
        if self.total:
            filled = int(self.width * min(self.done, self.total) / self.total)
            return f"{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {self.done}/{self.total} ({rate:.0f}/s)"
        return f"{self.label} {self.done} ({rate:.0f}/s)"

    def close(self) -> None:
        if self.tty:
            self.out.write("\r" + self._line() + "\n")
            self.out.flush()
