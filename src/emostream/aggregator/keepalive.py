"""Leases kept while the loop is busy finishing sessions, so that a healthy aggregator is not taken for dead.

Finishing a session draws its chart: the first one in a process imports
matplotlib (3 s on a busy two-core machine), and each takes a good part of a
second, several seconds under heavy load. The lease round runs between steps,
so without help a loop busy summarising missed its round for longer than the
lease; the other aggregators dropped it and took its sources, and gave them
back afterwards, without their rolling share (the cause of a flaky test).

While the loop is inside :meth:`LeaseKeeper.busy`, a thread announces the
member and renews the leases it holds each lease round, and nothing else
(no acquiring, no releasing: those wait for the loop). It stops after
``limit_s`` busy: a loop stuck that long is as good as dead, and its sources
should move.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator

import redis

from emostream.aggregator.leases import SourceLeases

log = logging.getLogger(__name__)


class LeaseKeeper:
    def __init__(self, leases: SourceLeases, limit_s: float) -> None:
        self.leases, self.limit_s = leases, limit_s
        self._busy_since: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="lease-keeper", daemon=True)

    def start(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    @contextlib.contextmanager
    def busy(self) -> Iterator[None]:
        self._busy_since = time.monotonic()
        try:
            yield
        finally:
            self._busy_since = None

    def _beat(self) -> None:
        while not self._stop.wait(self.leases.round_s):
            since = self._busy_since
            busy_s = 0.0 if since is None else time.monotonic() - since
            if busy_s < self.leases.round_s or busy_s > self.limit_s:
                continue
            try:
                self.leases.keep_alive()
            except redis.RedisError as exc:  # the loop meets the outage itself
                log.debug("aggregator: could not keep the leases while busy: %s", exc)
