"""One ingest role on several cores: ``ingest.processes`` children, each a normal ingest worker with a share of the sources.

Python runs one thread at a time per process (the GIL): tracking and the
Python between an analysed frame's stages hold it, so one process keeps
about 1.2 cores busy however many sources it runs (docs/BENCHMARKS.md, "N
sources: one process or several"). This parent starts ``processes`` children
(``emostream ingest --share I/N``) and does nothing else while they run:

- **Who runs which source**: :func:`emostream.ingest.control.owner`, a
  function of the source id and the configuration that every child computes
  alike (configured sources dealt in turn, run-time ones by a stable hash).
  A source is run by one child, against the same Redis, with the same
  checkpoint and exactly-once publishing as in a process of its own.
  Run-time changes (``emostream sources add/remove``) go to the role's name
  as before; each child takes the entries it owns.
- **Tied to this process**: each child gets ``--parent-pid`` (SIGTERM when
  the parent dies, :mod:`emostream.infra.lifeline`); a SIGTERM here is passed
  on, and the parent exits once they have drained.
- **Kept running**: a child that dies is restarted alone, after a backoff,
  and its sources resume from their checkpoints; the others run on
  untouched. One that keeps failing at start-up stops the role
  (:mod:`emostream.ingest.supervisor`).
- **One address**: ``/metrics`` and ``/healthz`` on the ingest port serve the
  children's together (each child serves on a private port of 127.0.0.1):
  counters, gauges and histograms summed per series, as one process would
  show them (a source's series come from the one child that runs it);
  ``/healthz`` is 503 while a child is down or not well.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from types import FrameType
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families

from emostream.config import Config, dump_config
from emostream.infra.children import spawn_worker
from emostream.infra.cpufeatures import usable_cores
from emostream.infra.httpserver import WorkerHttpServer
from emostream.infra.lifeline import STOP_GRACE_S, end_within
from emostream.ingest.control import owner
from emostream.ingest.supervisor import Supervisor

if TYPE_CHECKING:
    from emostream.ingest.worker import IngestWorker

log = logging.getLogger(__name__)

STOP_S = 30.0  # how long the parent waits for a child to drain (a worker waits 10 s for its sources, then its writer)
SCRAPE_S = 2.0  # a child's /metrics or /healthz that takes longer is left out of that scrape


def process_count(config: Config) -> int:
    """Children to start: ``ingest.processes`` (0: one per usable core), at most one per configured source."""
    wanted = config.ingest.processes or usable_cores()
    if config.sources:
        wanted = min(wanted, len(config.sources))
    return max(1, wanted)


def ingest_role(
    config: Config, share: str | None, log_level: str, again_since: float | None = None
) -> tuple[IngestWorker | IngestRole, str]:
    """What ``emostream ingest`` runs, and its process title: a worker, or this parent of ``processes`` workers.

    ``share`` ("I/N", from ``--share``): this process is child I of N and runs its share of the sources;
    ``again_since`` (``--again-since``): it was started again after it died, and the files it played to their
    end since the role started (that time) are not played again, whatever ``ingest.exit_at_end`` says.
    """
    from emostream.ingest.worker import IngestWorker  # here: the parent needs none of a worker's libraries

    ids = [s.id for s in config.sources]
    if share is None and (processes := process_count(config)) > 1:
        return IngestRole(config, processes, log_level), f"emostream.ingest ×{processes}"
    part = (int(share.split("/")[0]), int(share.split("/")[1])) if share else None
    mine = ids if part is None else [i for i in ids if owner(i, ids, part[1]) == part[0]]
    return IngestWorker(config, share=part, ended_since=again_since), f"emostream.ingest{f'[{share}]' if share else ''}:{','.join(mine)}"


def merge(texts: list[str]) -> Iterator[Metric]:
    """The families of several Prometheus text expositions, each series summed (start times: the earliest; info: as is)."""
    families: dict[str, Metric] = {}
    values: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
    for text in texts:
        for family in text_string_to_metric_families(text):
            if family.name not in families:
                families[family.name] = Metric(family.name, family.documentation, family.type, family.unit)
                values[family.name] = {}
            series = values[family.name]
            for sample in family.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                if key not in series:
                    series[key] = sample.value
                elif sample.name.endswith("start_time_seconds"):
                    series[key] = min(series[key], sample.value)
                elif family.type != "info" and not sample.name.endswith("_info"):
                    series[key] += sample.value
    for name, family in families.items():
        for (sample_name, labels), value in values[name].items():
            family.add_sample(sample_name, dict(labels), value)
        yield family


class ChildrenCollector:
    """A collector whose samples are the children's, read from their ports at each scrape."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports

    def collect(self) -> Iterator[Metric]:
        texts = []
        for port in self.ports:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=SCRAPE_S) as reply:
                    texts.append(reply.read().decode())
            except OSError as exc:  # a child starting or gone: its series are missing from this scrape
                log.debug("ingest: child on port %d did not answer /metrics: %s", port, exc)
        yield from merge(texts)


class IngestRole:
    """The parent: starts the children, serves their endpoints together, stops them, exits with their status."""

    role = "ingest"

    def __init__(self, config: Config, processes: int, log_level: str) -> None:
        self.started = time.time()  # a restarted child's files ended since then stay ended (ingest_role's again_since)
        if not config.sources and not config.ingest.control:
            raise ValueError("no sources configured: add sources to the configuration or pass --source")
        self.config = config
        self.processes = processes
        self.log_level = log_level
        self.stop = threading.Event()
        self.socks = [socket.create_server(("127.0.0.1", 0)) for _ in range(processes)]
        self.ports = [s.getsockname()[1] for s in self.socks]
        self.registry = CollectorRegistry()
        self.registry.register(ChildrenCollector(self.ports))
        ids = [s.id for s in config.sources]
        shares = [[i for i in ids if owner(i, ids, processes) == index] for index in range(processes)]
        self.children = Supervisor(shares, self._spawn, self.ports, self.registry, config.ingest.exit_at_end)
        self.http: WorkerHttpServer | None = None

    def install_signal_handlers(self) -> None:
        def handle(signum: int, _frame: FrameType | None) -> None:
            if not self.stop.is_set():
                log.info("ingest: %s received, stopping %d processes", signal.Signals(signum).name, self.processes)
                end_within(STOP_GRACE_S)
            self.stop.set()

        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)

    def start_http(self, sock: socket.socket | None = None) -> None:
        http = self.config.http
        if sock is None and http.ingest_port < 0:
            return
        server = WorkerHttpServer(http.host, http.ingest_port, self.registry, self.health, http.max_connections, http.timeout_s, sock=sock)
        self.http = server.start()
        log.info("ingest: /metrics and /healthz of %d processes on http://%s:%d", self.processes, http.host, server.port)

    def health(self) -> dict[str, Any]:
        """Well while every child runs and says it is well (one that ended with its files counts as well)."""
        body: dict[str, Any] = {"ok": not self.stop.is_set(), "role": self.role, "processes": self.processes, "children": {}, "sources": {}}
        for child in self.children.children:
            state, proc = child.state, child.proc
            body["children"][str(child.index)] = state
            if state == "done":
                continue
            part: dict[str, Any] = {"ok": False}
            if proc is not None:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{self.ports[child.index]}/healthz", timeout=SCRAPE_S) as reply:
                        part = json.loads(reply.read())
                except OSError as exc:  # 503 included: that child is not well
                    log.debug("ingest: child %d /healthz: %s", proc.pid, exc)
            body["ok"] = body["ok"] and bool(part.get("ok")) and proc is not None and proc.poll() is None
            body["sources"].update(part.get("sources", {}))
        return body

    def _spawn(self, index: int, again: bool) -> subprocess.Popen[bytes]:
        """``python -m emostream ingest --share I/N``, its configuration through a pipe (it may hold the Redis password)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("EMOSTREAM_")}  # all settings come through the pipe
        env["PROMETHEUS_DISABLE_CREATED_SERIES"] = "True"  # the parent sums series; a creation time is not a sum
        share = ["ingest", "--share", f"{index}/{self.processes}", *(["--again-since", repr(self.started)] if again else [])]
        return spawn_worker(share, dump_config(self.config), self.socks[index], self.log_level, env)

    def run(self) -> int:
        code = 0
        try:
            self.children.start_all()
            log.info("ingest: %d processes (pids %s)", self.processes, ", ".join(str(p.pid) for p in self.children.procs()))
            while not self.stop.is_set():
                status = self.children.poll()
                if status is not None:  # every source ended (ingest.exit_at_end), or a child cannot start
                    code = status
                    break
                self.stop.wait(0.2)
        finally:
            self.stop.set()
            code = self._stop_children() or code
            if self.http:
                self.http.stop()
            for sock in self.socks:
                sock.close()
        log.info("ingest stopped ◆ %d processes", self.processes)
        return code

    def _stop_children(self) -> int:
        """SIGTERM each child still running, then wait for all; a child still there after :data:`STOP_S` is killed."""
        children = self.children.procs()
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_S
        code = 0
        for child in children:
            try:
                rc = child.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("ingest: process %d did not drain within %.0f s; killing it", child.pid, STOP_S)
                child.kill()
                rc = child.wait()
            code = code or (rc if rc > 0 else 0)  # killed by our SIGTERM or SIGKILL: not a failure of its own
        return code
