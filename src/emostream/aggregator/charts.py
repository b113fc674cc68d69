"""Timeline charts for HTTP clients: each rendered once, kept in a bounded cache, at most a few at a time.

Drawing a chart costs ~50 ms of CPU and a few MB, and 64 clients asking for
one in a loop once took every handler thread, starved ``/healthz`` and
quadrupled the aggregator's memory. So a chart is keyed by what it shows (the
session, its source and its chart buckets: an ended session's never changes,
an open one's changes as faces are counted), rendered once, and kept in an
LRU of ``CACHE_ENTRIES`` PNGs of at most ``PNG_MAX_BYTES`` each; at most
``RENDERS`` render at once, and a request that waits ``WAIT_S`` for its turn
is answered 503. Memory for charts is thus bounded by
``CACHE_ENTRIES * PNG_MAX_BYTES + RENDERS * <one figure>`` whatever the clients do.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from typing import Any

from emostream.aggregator.summary import render_timeline_png

CACHE_ENTRIES = 64
PNG_MAX_BYTES = 512 * 1024  # a 900x320 chart is ~30 KB; a larger one is served but not kept
RENDERS = 2
WAIT_S = 5.0


class ChartCache:
    def __init__(self, entries: int = CACHE_ENTRIES, renders: int = RENDERS, wait_s: float = WAIT_S) -> None:
        self.entries, self.wait_s = entries, wait_s
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self._renders = threading.BoundedSemaphore(renders)
        self._drawing: dict[str, threading.Lock] = {}  # one lock per chart being drawn (at most one per waiting request)
        self.rendered = 0  # charts drawn, for tests and the curious

    def png(self, summary: dict[str, Any]) -> bytes | None:
        """The chart of ``summary``; None if no renderer was free within ``wait_s`` (the caller answers 503).

        Requests for a chart being drawn wait for that drawing rather than draw it again.
        """
        key = _key(summary)
        if (hit := self._get(key)) is not None:
            return hit
        with self._lock:
            drawing = self._drawing.setdefault(key, threading.Lock())
        if not drawing.acquire(timeout=self.wait_s):
            return None
        try:
            if (hit := self._get(key)) is not None:  # drawn by the request this one waited behind
                return hit
            if not self._renders.acquire(timeout=self.wait_s):
                return None
            try:
                png = render_timeline_png(summary)
                self.rendered += 1
            finally:
                self._renders.release()
            with self._lock:
                if len(png) <= PNG_MAX_BYTES:
                    self._cache[key] = png
                    while len(self._cache) > self.entries:
                        self._cache.popitem(last=False)
            return png
        finally:
            drawing.release()
            with self._lock:
                if self._drawing.get(key) is drawing and not drawing.locked():
                    del self._drawing[key]

    def _get(self, key: str) -> bytes | None:
        with self._lock:
            png = self._cache.get(key)
            if png is not None:
                self._cache.move_to_end(key)
            return png


def _key(summary: dict[str, Any]) -> str:
    shown = json.dumps([summary.get("source"), summary.get("session"), summary.get("chart")], sort_keys=True)
    return hashlib.blake2b(shown.encode(), digest_size=16).hexdigest()
