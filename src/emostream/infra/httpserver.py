"""The small HTTP server every worker runs: ``/metrics``, ``/healthz`` and extra routes.

Bound to 127.0.0.1 unless configured otherwise. Handlers are plain callables
returning (status, content type, body), so routes are easy to add and test.
The server is bounded (see ``httplimits``): at most ``max_connections``
requests are served at once, of which at most half may be long-lived streams
(MJPEG), and probes have slots of their own beyond those (``RESERVED_SLOTS``), so
metrics scrapes and health probes always find one; a client
must send its request within ``timeout_s`` and keep reading within it.

``/metrics`` is prometheus_client's own WSGI exposition, so content
negotiation (OpenMetrics or text), ``gzip`` and ``name[]`` filtering behave as
in every other Prometheus client.
"""

from __future__ import annotations

import io
import json
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

import redis
from prometheus_client import CollectorRegistry, make_wsgi_app

from emostream.infra.httplimits import BoundedHTTPServer, PrefixedReader

log = logging.getLogger(__name__)

# A body is bytes, or an iterator of chunks for streaming responses (MJPEG).
Response = tuple[int, str, bytes | Iterator[bytes]]
Handler = Callable[[str], Response]

MAX_CONNECTIONS = 64
TIMEOUT_S = 10.0


def json_response(body: Any, status: int = 200) -> Response:
    return status, "application/json", json.dumps(body, indent=2).encode()


def health_response(health: Callable[[], dict[str, Any]]) -> Response:
    """``/healthz``: the body once, its ``ok`` decides the status (200 or 503)."""
    body = health()
    return json_response(body, 200 if body.get("ok", True) else 503)


class WorkerHttpServer:
    def __init__(
        self,
        host: str,
        port: int,
        registry: CollectorRegistry,
        health: Callable[[], dict[str, Any]],
        max_connections: int = MAX_CONNECTIONS,
        timeout_s: float = TIMEOUT_S,
        sock: socket.socket | None = None,
    ) -> None:
        self.routes: dict[str, Handler] = {}
        self.prefix_routes: dict[str, Handler] = {}
        self.add("/healthz", lambda _: health_response(health))
        self._stopping = threading.Event()
        self._streams = threading.BoundedSemaphore(max(1, max_connections // 2))
        self._metrics_app = make_wsgi_app(registry)
        self._server = BoundedHTTPServer((host, port), self._handler_class(timeout_s), max_connections, timeout_s, sock)
        self._thread = threading.Thread(target=self._server.serve_forever, name="http", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def busy(self) -> int:
        """Requests being served now; for tests and the health body."""
        return self._server.busy

    def add(self, path: str, handler: Handler, prefix: bool = False) -> None:
        (self.prefix_routes if prefix else self.routes)[path] = handler

    def start(self) -> WorkerHttpServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()

    # --- serving ------------------------------------------------------------

    def _route(self, path: str) -> Response:
        handler = self.routes.get(path) or next(
            (h for p, h in sorted(self.prefix_routes.items(), key=lambda kv: -len(kv[0])) if path.startswith(p)), None
        )
        if handler is None:
            return json_response({"error": "not found"}, 404)
        try:
            return handler(path)
        except redis.RedisError as exc:  # Redis busy or away: the client may retry; one line, no traceback
            log.warning("HTTP %s: Redis unavailable: %s", path, exc)
            return json_response({"error": "Redis is unavailable, try again"}, 503)
        except Exception as exc:  # a broken handler must not kill the server
            log.error("HTTP handler for %s failed: %s: %s", path, type(exc).__name__, exc)
            log.debug("HTTP handler for %s failed", path, exc_info=True)
            return json_response({"error": "internal error"}, 500)

    def _metrics(self, request: BaseHTTPRequestHandler) -> tuple[int, list[tuple[str, str]], bytes]:
        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": "/metrics",
            "QUERY_STRING": urlsplit(request.path).query,
            "HTTP_ACCEPT": request.headers.get("Accept", ""),
            "HTTP_ACCEPT_ENCODING": request.headers.get("Accept-Encoding", ""),
        }
        started: list[Any] = []
        body = b"".join(self._metrics_app(environ, lambda status, headers: started.extend((status, headers))))
        return int(started[0].split()[0]), list(started[1]), body

    def _handler_class(self, timeout_s: float) -> type[BaseHTTPRequestHandler]:
        return type("Handler", (_Handler,), {"owner": self, "timeout": timeout_s})


class _Handler(BaseHTTPRequestHandler):
    """One request; ``owner`` (the worker's server) and ``timeout`` are set per server by ``_handler_class``."""

    owner: WorkerHttpServer

    def setup(self) -> None:
        super().setup()
        self.rfile.close()  # the plain reader; an open one would keep the socket from closing
        self.rfile = io.BufferedReader(PrefixedReader(self.connection, self.owner._server.received(self.connection)))

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/metrics":
            status, headers, body = self.owner._metrics(self)
            self._send_head(status, [*headers, ("Content-Length", str(len(body)))])
            self.wfile.write(body)
            return
        status, ctype, payload = self.owner._route(path)
        if isinstance(payload, bytes):
            self._send_head(status, [("Content-Type", ctype), ("Content-Length", str(len(payload)))])
            self.wfile.write(payload)
            return
        self._stream(status, ctype, payload)

    def do_HEAD(self) -> None:
        """``/metrics`` and ``/healthz`` only (what probes and uptime checkers send): GET's status and headers, no body."""
        path = urlsplit(self.path).path
        if path == "/metrics":
            status, headers, body = self.owner._metrics(self)
            self._send_head(status, [*headers, ("Content-Length", str(len(body)))])
        elif path == "/healthz":
            status, ctype, payload = self.owner._route(path)
            size = len(payload) if isinstance(payload, bytes) else 0
            self._send_head(status, [("Content-Type", ctype), ("Content-Length", str(size))])
        else:
            self.send_error(405 if path in self.owner.routes else 404)

    def _send_head(self, status: int, headers: list[tuple[str, str]]) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Cache-Control", "no-store")
        self.end_headers()

    def _stream(self, status: int, ctype: str, chunks: Iterator[bytes]) -> None:
        if not self.owner._streams.acquire(blocking=False):
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
            body = json.dumps({"error": "too many streams, try again later"}).encode()
            self._send_head(503, [("Content-Type", "application/json"), ("Retry-After", "5"), ("Content-Length", str(len(body)))])
            self.wfile.write(body)
            return
        try:
            self._send_head(status, [("Content-Type", ctype)])
            for chunk in chunks:
                if self.owner._stopping.is_set():
                    break
                self.wfile.write(chunk)
                self.wfile.flush()
        except OSError:
            pass  # the client went away or stopped reading (timeout): that ends a stream
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()  # lets a generator unsubscribe from its frame source now
            self.owner._streams.release()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug("http: " + format, *args)
