"""The terminal view of ``emostream run``: faces and their emotions as events arrive.

On a terminal it redraws a small table in place (one row per visible face, with
the probability of its emotion as a bar); elsewhere (CI logs, pipes) it prints
one line per event.
"""

from __future__ import annotations

import time
from typing import Any, TextIO

from emostream.client.follow import format_event

BAR = 20


class LiveView:
    def __init__(self, out: TextIO, enabled: bool = True, stale_s: float = 2.0) -> None:
        self.out = out
        self.enabled = enabled
        self.tty = out.isatty()
        self.stale_s = stale_s
        self.faces: dict[tuple[str, int], tuple[float, dict[str, Any]]] = {}
        self.events = 0
        self._lines = 0
        self._last_draw = 0.0

    def show(self, event: dict[str, Any]) -> None:
        self.events += 1
        if not self.enabled:
            return
        if not self.tty:
            print(format_event(event), file=self.out, flush=True)
            return
        self.faces[(event["source"], event["face"]["track_id"])] = (time.monotonic(), event)
        if time.monotonic() - self._last_draw > 0.1:
            self.refresh()

    def refresh(self) -> None:
        if not (self.enabled and self.tty):
            return
        now = time.monotonic()
        self._last_draw = now
        rows = [f"emostream · {self.events} events · Ctrl-C to stop"]
        for (source, track), (seen, event) in sorted(self.faces.items()):
            if now - seen > self.stale_s:
                continue
            emotion = event["emotion"]
            filled = round(emotion["confidence"] * BAR)
            rows.append(
                f"  {source:<10} face #{track:<3} {emotion['label']:<8} {'█' * filled}{'·' * (BAR - filled)} "
                f"{emotion['confidence']:.2f}  t={event['frame']['offset_s']:.1f}s"
            )
        if len(rows) == 1:
            rows.append("  (no faces in view)")
        erase = f"\x1b[{self._lines}F\x1b[J" if self._lines else ""
        self.out.write(erase + "\n".join(rows) + "\n")
        self.out.flush()
        self._lines = len(rows)

    def close(self) -> None:
        if self.enabled and self.tty:
            self.refresh()
