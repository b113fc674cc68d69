"""Faults while finishing a session: tried a bounded number of times, logged once, counted, then done without.

Finishing a session has three parts that can fail on their own: building the
summary, writing ``<session>.json``, drawing and writing the chart. A part
that fails is tried again ``RETRY_S`` later, up to ``MAX_TRIES`` times; then
the session is summarised without it (a file or the chart), or, if the
summary itself cannot be built, dead-lettered with the reason. Other sessions
and the loop never wait for it. The count lives in this process: a restarted
aggregator tries a failing part ``MAX_TRIES`` times again, never forever.

File-system faults are also a state of the aggregator (unhealthy until a write
succeeds again), logged once when they begin and once when they end.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from emostream.aggregator.summaryfiles import DiskError, UnsafePathError
from emostream.config.ids import shown
from emostream.infra.metrics import FINISH_PARTS, AggregatorMetrics

log = logging.getLogger(__name__)
MAX_TRIES = 3
RETRY_S = 2.0
RELOG_S = 300.0  # a disk fault that comes and goes (a small file fits, a chart does not) is logged again only after this


def brief(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc)[:200]}"


class FinishFaults:
    def __init__(self, metrics: AggregatorMetrics, folder: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.metrics = metrics
        self.folder = folder
        self.clock = clock
        self.tries: dict[tuple[str, str], int] = {}
        self.retry_at: dict[str, float] = {}
        self.disk: str | None = None  # the cause of the last failed write, until one succeeds
        self._logged: dict[str, float] = {}  # disk fault cause -> when its line was last logged
        self._announced = False  # the line of the current fault was logged: its end is logged too

    def due(self, session: str) -> bool:
        """False while a failed session waits for its next try."""
        return self.clock() >= self.retry_at.get(session, 0.0)

    def given_up(self, session: str, part: str) -> bool:
        return self.tries.get((session, part), 0) >= MAX_TRIES

    def failed(self, session: str, part: str, exc: BaseException) -> bool:
        """Count a failed try of ``part``; True once the session is to go on without it."""
        tries = self.tries[(session, part)] = MAX_TRIES if isinstance(exc, UnsafePathError) else self.tries.get((session, part), 0) + 1
        self.metrics.finish_failures.labels(part).inc()
        if isinstance(exc, DiskError):
            self._disk_fault(exc)
        if tries >= MAX_TRIES:
            self.metrics.sessions_incomplete.labels(part).inc()
            outcome = "dead-lettered" if part == "summary" else f"summarised without its {part.replace('_', ' ')}"
            log.error("aggregator: session %s %s: %s failed (%s)", shown(session), outcome, part, brief(exc))
            return True
        if tries == 1 and not isinstance(exc, DiskError):  # a disk fault has its own line
            log.warning("aggregator: session %s: %s failed (%s); trying again up to %d times", shown(session), part, brief(exc), MAX_TRIES - 1)
        self.retry_at[session] = self.clock() + RETRY_S
        return False

    def wrote(self) -> None:
        """A write succeeded: a disk fault is over."""
        if self.disk is not None and self._announced:
            self._announced = False
            log.warning("aggregator: summaries are written to %s again (the %s fault is over)", self.folder, self.disk)
        self.disk = None

    def forget(self, session: str) -> None:
        self.retry_at.pop(session, None)
        for part in FINISH_PARTS:
            self.tries.pop((session, part), None)

    def _disk_fault(self, exc: DiskError) -> None:
        self.metrics.disk_errors.labels(exc.cause).inc()
        if self.disk != exc.cause and self.clock() - self._logged.get(exc.cause, -RELOG_S) >= RELOG_S:
            self._logged[exc.cause] = self.clock()
            self._announced = True
            log.error("aggregator: cannot write summaries to %s: %s (%s); unhealthy until a write succeeds", self.folder, exc.cause, exc.strerror)
        self.disk = exc.cause
