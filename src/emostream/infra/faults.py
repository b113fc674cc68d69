"""Faults that repeat: logged once per distinct cause, then only counted.

A poll that meets the same bad input every second (an invalid member of
``<prefix>:sources``, a malformed run-time source entry, a queue it may not
read) would otherwise log it every second for as long as it stays. A
:class:`FaultLog` logs a (subject, cause) pair the first time it is seen and
counts every sighting in ``emostream_faults_total{site}``, which every worker
exposes (``infra.metrics.FaultCollector``; this module needs no prometheus_client, so the client can use it). Memory is bounded: at most ``max_kept``
pairs are remembered (the oldest is forgotten first, and would be logged again).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict

MAX_KEPT = 1024

_SITES: dict[str, FaultLog] = {}
_SITES_LOCK = threading.Lock()


class FaultLog:
    def __init__(self, site: str, logger: logging.Logger, max_kept: int = MAX_KEPT) -> None:
        self.site, self.logger, self.max_kept = site, logger, max_kept
        self.count = 0
        self._seen: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._lock = threading.Lock()
        with _SITES_LOCK:
            _SITES.setdefault(site, self)

    def report(self, subject: str, cause: str, message: str, *args: object, level: int = logging.WARNING) -> bool:
        """Count the fault; log ``message % args`` only if ``subject`` has not had this ``cause`` before. True if logged."""
        key = (subject, cause)
        with self._lock:
            self.count += 1
            if key in self._seen:
                self._seen.move_to_end(key)
                return False
            self._seen[key] = None
            while len(self._seen) > self.max_kept:
                self._seen.popitem(last=False)
        self.logger.log(level, message, *args)
        return True

    def clear(self, subject: str) -> None:
        """``subject`` is well again: its next fault is logged, whatever its cause."""
        with self._lock:
            for key in [k for k in self._seen if k[0] == subject]:
                del self._seen[key]


def fault_log(site: str, logger: logging.Logger) -> FaultLog:
    """The process's fault log of ``site`` (one per site, so that its count is one series)."""
    with _SITES_LOCK:
        existing = _SITES.get(site)
    return existing or FaultLog(site, logger)


def sites() -> list[FaultLog]:
    """Every fault log of this process (``infra.metrics.FaultCollector`` exports their counts)."""
    with _SITES_LOCK:
        return list(_SITES.values())
