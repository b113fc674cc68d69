"""Short-lived, in-memory views of the event flow: the rolling emotion share and the reorder buffer.

Both are allowed to be lost on restart: the share is a gauge that refills within
its window, and buffered events are still pending in Redis until applied.
"""

from __future__ import annotations

from collections import deque

from emostream.infra.emotions import EMOTIONS
from emostream.streams.events import EmotionEvent


class RollingShare:
    """Share of each emotion among a source's faces over the last ``window_s`` seconds."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self.items: deque[tuple[float, str]] = deque()
        self.counts = dict.fromkeys(EMOTIONS, 0)

    def add(self, now: float, emotion: str) -> None:
        self.items.append((now, emotion))
        self.counts[emotion] += 1
        self.expire(now)

    def expire(self, now: float) -> None:
        while self.items and self.items[0][0] < now - self.window_s:
            _, old = self.items.popleft()
            self.counts[old] -= 1

    def shares(self) -> dict[str, float]:
        total = len(self.items)
        return {e: (self.counts[e] / total if total else 0.0) for e in EMOTIONS}


class ReorderBuffer:
    """Holds events for ``hold_s`` from the oldest one, then hands them all out at once.

    With several classifier replicas, the events of one track reach the
    aggregator slightly out of order (replica B publishes frames 33-64 before
    replica A publishes 1-32). Smoothing only moves forward, so a face older than
    the track's last applied one is not smoothed; holding events briefly, so
    that ``TrackStore.apply`` sorts each track's faces by frame, keeps that rare. The entries stay
    unacknowledged while held, so a crash loses nothing: they are redelivered.
    """

    def __init__(self, hold_s: float) -> None:
        self.hold_s = hold_s
        self.items: list[tuple[str, bytes, EmotionEvent]] = []  # stream, entry id, event
        self.oldest: float | None = None

    def __len__(self) -> int:
        return len(self.items)

    def add(self, now: float, stream: str, entry_id: bytes, event: EmotionEvent) -> None:
        if self.oldest is None:
            self.oldest = now
        self.items.append((stream, entry_id, event))

    def due(self, now: float) -> bool:
        return self.oldest is not None and now - self.oldest >= self.hold_s

    def wait_s(self, now: float) -> float | None:
        """Seconds until the buffer is due; None when empty."""
        return None if self.oldest is None else max(0.0, self.hold_s - (now - self.oldest))

    def clear(self) -> None:
        self.items, self.oldest = [], None

    def drop(self, stream: str) -> None:
        """Forget the held events of ``stream`` (a source this aggregator lost): unacknowledged, they go to its new owner."""
        self.items = [item for item in self.items if item[0] != stream]
        if not self.items:
            self.oldest = None
