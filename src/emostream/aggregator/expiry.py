"""Retention: what emostream published is deleted once it is older than ``aggregator.expire_after_s``.

Off by default (``None``): the streams are only capped by length. When set, the
aggregator, on a timer (``expire_every_s``), trims every source's events and
tracks streams and the sessions stream to the entries newer than the period
(``XTRIM key MINID``: an entry's id is the millisecond it was added), and
deletes the summary files (``<session>.json``, ``<session>.timeline.png``) in
``summary_dir`` last written before it. Stored summary keys expire with it
(``AggregatorConfig.summary_ttl_s``).

Trimming is exact, not ``~``: an operator who promises a retention period must
be able to rely on it, and a timer-paced XTRIM costs little. Each aggregator
trims every registered source, not only those it leases, so a source removed
or no longer read still expires; trimming twice is harmless.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import redis

from emostream.streams.keys import Keys

log = logging.getLogger(__name__)

# The files finishing.py writes: session ids are "<source>-<UTC start>-<4 hex>"; nothing else in the folder is touched.
SUMMARY_FILE = re.compile(r"^[A-Za-z0-9_.-]+-\d{8}T\d{6}Z-[0-9a-f]{4}\.(json|timeline\.png)$")


@dataclass
class Expired:
    entries: int = 0
    files: int = 0


class Expiry:
    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        summary_dir: Path,
        after_s: float | None,
        every_s: float,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client, self.keys, self.summary_dir = client, keys, summary_dir
        self.after_s, self.every_s = after_s, every_s
        self.clock, self.monotonic = clock, monotonic
        self._last: float | None = None

    def tick(self) -> Expired | None:
        """Expire now if retention is on and ``every_s`` has passed since the last time; None otherwise."""
        if self.after_s is None:
            return None
        now = self.monotonic()
        if self._last is not None and now - self._last < self.every_s:
            return None
        self._last = now
        return self.run()

    def run(self) -> Expired:
        assert self.after_s is not None
        cutoff = self.clock() - self.after_s
        done = Expired(entries=self._trim(cutoff), files=self._prune(cutoff))
        if done.entries or done.files:
            log.info("aggregator: retention %gs: deleted %d stream entries and %d summary files", self.after_s, done.entries, done.files)
        return done

    def streams(self) -> list[str]:
        sources = sorted(s.decode() if isinstance(s, bytes) else str(s) for s in self.client.smembers(self.keys.sources))
        return [self.keys.sessions, *(key for source in sources for key in (self.keys.events(source), self.keys.tracks(source)))]

    def _trim(self, cutoff: float) -> int:
        minid = f"{max(0, int(cutoff * 1000))}-0"
        trimmed = 0
        for stream in self.streams():  # one key per call: on a cluster each goes to its own slot's master
            trimmed += int(self.client.xtrim(stream, minid=minid, approximate=False))
        return trimmed

    def _prune(self, cutoff: float) -> int:
        if not self.summary_dir.is_dir():
            return 0
        pruned = 0
        for path in self.summary_dir.iterdir():
            if not SUMMARY_FILE.match(path.name) or not path.is_file():
                continue
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    pruned += 1
            except FileNotFoundError:  # another aggregator sharing the folder was first
                continue
        return pruned
