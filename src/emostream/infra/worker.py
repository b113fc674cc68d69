"""What every worker process shares: signals, the stop event, HTTP endpoints, logging.

A worker's ``run()`` loops until :attr:`Worker.stop` is set (by SIGTERM or
SIGINT), then drains: it stops taking work, finishes and acknowledges what it
holds, logs one summary line and returns 0.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import threading
import time
from abc import ABC, abstractmethod
from types import FrameType
from typing import Any

from prometheus_client import CollectorRegistry

from emostream.config import Config
from emostream.infra.buildinfo import register_process_metrics
from emostream.infra.httpserver import WorkerHttpServer
from emostream.infra.lifeline import STOP_GRACE_S, end_within
from emostream.infra.metrics import FaultCollector
from emostream.infra.redact import RedactingFilter

log = logging.getLogger(__name__)


def setup_logging(level: str, secrets: tuple[str, ...] = ()) -> None:
    """Root logging with credentials redacted from every record, whatever its logger."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(processName)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("absl", "tensorflow", "matplotlib", "h5py", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def set_title(title: str) -> None:
    try:
        import setproctitle

        setproctitle.setproctitle(title)
    except ImportError:  # cosmetic only
        pass


class Worker(ABC):
    """Base of the ingest, classifier and aggregator workers."""

    role: str = "worker"

    def __init__(self, config: Config, registry: CollectorRegistry | None = None, http_port: int | None = None) -> None:
        self.config = config
        self.registry = registry or CollectorRegistry()
        register_process_metrics(self.registry)
        with contextlib.suppress(ValueError):  # a registry shared by several workers (tests) has it already
            self.registry.register(FaultCollector())
        self.stop = threading.Event()
        self.started = time.monotonic()
        self._http_port = http_port
        self.http: WorkerHttpServer | None = None

    def install_signal_handlers(self) -> None:
        def handle(signum: int, _frame: FrameType | None) -> None:
            if not self.stop.is_set():
                log.info("%s: %s received, draining", self.role, signal.Signals(signum).name)
                end_within(STOP_GRACE_S)
            self.stop.set()

        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)

    def health(self) -> dict[str, Any]:
        return {"ok": not self.stop.is_set(), "role": self.role, "uptime_s": round(time.monotonic() - self.started, 1)}

    def start_http(self, sock: socket.socket | None = None) -> None:
        """Serve ``/metrics`` and ``/healthz`` on the configured port, or on ``sock`` (bound by ``emostream run``)."""
        if sock is None and (self._http_port is None or self._http_port < 0):
            return
        http = self.config.http
        server = WorkerHttpServer(
            http.host, self._http_port or 0, self.registry, self.health, max_connections=http.max_connections, timeout_s=http.timeout_s,
            sock=sock,
        )
        self.add_routes(server)  # before it starts: no client may see a route missing
        self.http = server.start()
        log.info("%s: /metrics and /healthz on http://%s:%d", self.role, http.host, server.port)

    def add_routes(self, server: WorkerHttpServer) -> None:
        """Routes beyond ``/metrics`` and ``/healthz``; none by default."""
        del server

    def run(self) -> int:
        """Serve until stopped; returns the process exit code."""
        if self.http is None:  # the command line starts it before, so that a port it cannot have is a start-up failure
            self.start_http()
        try:
            self.serve()
        finally:
            if self.http:
                self.http.stop()
        return 0

    @abstractmethod
    def serve(self) -> None:
        """The worker's loop: return after draining once :attr:`stop` is set."""
