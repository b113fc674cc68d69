"""Retrying an operation while Redis is down, without repeating a write that landed."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from emostream.infra.redact import redact
from emostream.streams.connection import RETRYABLE

log = logging.getLogger(__name__)

T = TypeVar("T")


class Reconnector:
    """Retries an operation while Redis is down, with capped exponential backoff.

    Logs once when the connection is lost and once when it is back, so a Redis
    restart shows as two lines rather than a stack trace per retry. Only a call
    that failed itself says "back": ingest's source threads share one
    reconnector, and on a cluster a thread writing to a live master must not
    announce the end of another's outage on a master still failing over.
    """

    def __init__(
        self,
        name: str,
        stopping: Callable[[], bool],
        cap_s: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.stopping = stopping
        self.cap_s = cap_s
        self.sleep = sleep
        self.monotonic = monotonic
        self.down_since: float | None = None
        self.outages = 0

    def call(self, op: Callable[[], T], committed: Callable[[], bool] | None = None) -> T | None:
        """Runs ``op`` until Redis answers; None if the worker is stopping meanwhile.

        A connection lost after Redis executed a write but before its reply
        arrived looks like a failure, so retrying a non-idempotent write (XADD)
        could apply it twice. ``committed`` answers whether the first attempt
        landed after all; it is asked before every retry and ends the retries
        when it says yes (``call`` then returns None).
        """
        delay = 0.1
        attempted = failed = False
        while True:
            try:
                if attempted and committed is not None and committed():
                    result = None
                else:
                    attempted = True
                    result = op()
            except RETRYABLE as exc:
                failed = True
                if self.down_since is None:
                    self.down_since = self.monotonic()
                    self.outages += 1
                    log.warning("%s: lost Redis (%s); retrying with backoff", self.name, redact(str(exc)) or type(exc).__name__)
                if self.stopping():
                    return None
                self.sleep(delay)
                delay = min(delay * 2, self.cap_s)
                continue
            if failed and self.down_since is not None:
                log.warning("%s: Redis is back after %.1f s", self.name, self.monotonic() - self.down_since)
                self.down_since = None
            return result
