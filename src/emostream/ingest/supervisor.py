"""An ingest role's children kept running: a child that dies is restarted alone, after a backoff.

A child that exits while the role is not stopping (a crash, SIGKILL, the OOM
killer; or status 0 while ``ingest.exit_at_end`` is off) is logged in one
line (which child, its status or signal, its configured sources), counted in
``emostream_ingest_child_restarts_total{child}`` when it is started again, and
restarted with the same ``--share I/N`` after a backoff of 1 s doubling to
30 s. Its sources resume from their checkpoints (exactly-once publishing, as
for any restarted ingest process); the other children are not touched. The
backoff starts again once a restarted child has been healthy for
:data:`STABLE_S`.

A child that fails before it ever answered ``/healthz`` (a start-up failure:
status 2 for a configuration it cannot use, or Redis out of reach) is
restarted too, but :data:`START_FAILURES` of those in a row stop the role,
with one line and the child's status: the same configuration would fail
again, and a supervisor above (Kubernetes, systemd) shows a crash loop
better than a role that retries unseen (docs/decisions.md).
"""

from __future__ import annotations

import logging
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, disable_created_metrics

from emostream.ingest.backoff import Backoff

log = logging.getLogger(__name__)

BACKOFF_S = (1.0, 30.0)  # first and longest wait before a child is started again
STABLE_S = 60.0  # a child healthy this long has recovered: its next failure waits BACKOFF_S[0] again
START_FAILURES = 5  # start-up failures in a row of one child that stop the role (after 1 + 2 + 4 + 8 s of waiting)
PROBE_S = 0.5  # how long the loop waits for a starting child's /healthz (it asks at most once a second)


def describe(code: int) -> str:
    """A child's exit status in words: ``exited with status 3``, ``was killed by SIGKILL``."""
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


@dataclass
class Child:
    """One ``--share I/N`` child: its process while it runs, else when it starts again."""

    index: int
    sources: list[str]  # the configured sources it runs (run-time ones are dealt by their id's hash)
    backoff: Backoff = field(default_factory=lambda: Backoff(*BACKOFF_S))
    proc: subprocess.Popen[bytes] | None = None
    healthy_since: float | None = None  # when the parent first saw it answer /healthz; None while it starts
    probed: float = 0.0
    start_failures: int = 0  # in a row
    due: float | None = None  # while down: when it is started again
    done: bool = False  # exited 0 after its sources ended (ingest.exit_at_end)

    @property
    def state(self) -> str:
        if self.done:
            return "done"
        if self.proc is None:
            return "down"
        return "running" if self.healthy_since is not None else "starting"


class Supervisor:
    """Starts the children, restarts one that dies, and says when the role is over (:meth:`poll`)."""

    def __init__(
        self,
        sources: list[list[str]],
        spawn: Callable[[int, bool], subprocess.Popen[bytes]],
        ports: list[int],
        registry: CollectorRegistry,
        exit_at_end: bool,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.children = [Child(i, ids) for i, ids in enumerate(sources)]
        self.spawn, self.ports, self.exit_at_end, self.clock = spawn, ports, exit_at_end, clock
        disable_created_metrics()  # type: ignore[no-untyped-call]  # as every worker: no _created series
        self.restarts = Counter(
            "emostream_ingest_child_restarts_total", "Children of an ingest role started again after an unexpected exit.", ["child"],
            registry=registry,
        )
        for child in self.children:
            self.restarts.labels(str(child.index)).inc(0)  # every child's series from the start: alerts see the first restart

    @property
    def count(self) -> int:
        return len(self.children)

    def procs(self) -> list[subprocess.Popen[bytes]]:
        return [c.proc for c in self.children if c.proc is not None]

    def name(self, child: Child) -> str:
        return f"process {child.index}/{self.count}"

    def start_all(self) -> None:
        for child in self.children:
            self._start(child, again=False)

    def _start(self, child: Child, again: bool) -> subprocess.Popen[bytes]:
        """``again``: a child started again after it died (spawn tells it, so that the files it ended stay ended)."""
        proc = child.proc = self.spawn(child.index, again)
        child.healthy_since, child.due = None, None
        return proc

    def poll(self) -> int | None:
        """One look at every child: None while the role goes on, else its exit status (0: every source ended)."""
        now = self.clock()
        for child in self.children:
            if child.proc is None:
                if child.due is not None and now >= child.due:
                    proc = self._start(child, again=True)
                    self.restarts.labels(str(child.index)).inc()
                    log.info("ingest: %s started again (pid %d)", self.name(child), proc.pid)
                continue
            code = child.proc.poll()
            if code is None:
                self._probe(child, now)
            elif code == 0 and self.exit_at_end:
                child.proc, child.done = None, True
            else:
                stop = self._failed(child, code, now)
                if stop is not None:
                    return stop
        return 0 if all(c.done for c in self.children) else None

    def _failed(self, child: Child, code: int, now: float) -> int | None:
        """A child that exited unexpectedly: its restart scheduled, or the role's status when it keeps failing at start-up."""
        pid, what = child.proc.pid if child.proc else 0, describe(code)
        held = ", ".join(child.sources) or "run-time sources only"
        child.proc = None
        if child.healthy_since is None:
            child.start_failures += 1
            if child.start_failures >= START_FAILURES:
                log.error(
                    "ingest: %s (pid %d; sources %s) %s before it was up, %d times in a row; stopping the role: see its log above",
                    self.name(child), pid, held, what, child.start_failures,
                )
                return code if code > 0 else 1
        else:
            child.start_failures = 0
            if now - child.healthy_since >= STABLE_S:
                child.backoff.reset()
        delay = child.backoff.next()
        child.due = now + delay
        log.error("ingest: %s (pid %d; sources %s) %s; starting it again in %.1f s", self.name(child), pid, held, what, delay)
        return None

    def _probe(self, child: Child, now: float) -> None:
        """A starting child is up once its /healthz answers 200 (asked at most once a second, each time for :data:`PROBE_S`)."""
        if child.healthy_since is not None or now - child.probed < 1.0:
            return
        child.probed = now
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.ports[child.index]}/healthz", timeout=PROBE_S) as reply:
                if reply.status == 200:
                    child.healthy_since = now
        except OSError:  # still loading, or not well: asked again in a second
            pass
