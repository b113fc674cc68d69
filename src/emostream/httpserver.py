"""The small HTTP server every worker runs: ``/metrics``, ``/healthz`` and extra routes.

Bound to 127.0.0.1 unless configured otherwise. Handlers are plain callables
returning (status, content type, body), so routes are easy to add and test.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

log = logging.getLogger(__name__)

# A body is bytes, or an iterator of chunks for streaming responses (MJPEG).
Response = tuple[int, str, bytes | Iterator[bytes]]
Handler = Callable[[str], Response]


def json_response(body: Any, status: int = 200) -> Response:
    return status, "application/json", json.dumps(body, indent=2).encode()


class WorkerHttpServer:
    def __init__(self, host: str, port: int, registry: CollectorRegistry, health: Callable[[], dict[str, Any]]) -> None:
        self.routes: dict[str, Handler] = {}
        self.prefix_routes: dict[str, Handler] = {}
        self.add("/metrics", lambda _: (200, CONTENT_TYPE_LATEST, generate_latest(registry)))
        self.add("/healthz", lambda _: json_response(health(), 200 if health().get("ok", True) else 503))
        routes, prefix_routes = self.routes, self.prefix_routes
        self._stopping = stopping = threading.Event()

        class _Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                handler = routes.get(path) or next(
                    (h for p, h in sorted(prefix_routes.items(), key=lambda kv: -len(kv[0])) if path.startswith(p)), None
                )
                try:
                    status, ctype, body = handler(path) if handler else json_response({"error": "not found"}, 404)
                except Exception:  # a broken handler must not kill the server
                    log.exception("HTTP handler for %s failed", path)
                    status, ctype, body = json_response({"error": "internal error"}, 500)
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Cache-Control", "no-store")
                if isinstance(body, bytes):
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                self.end_headers()
                try:
                    for chunk in body:
                        if stopping.is_set():
                            break
                        self.wfile.write(chunk)
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client went away: that ends a stream

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                log.debug("http: " + format, *args)

        self._server = ThreadingHTTPServer((host, port), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="http", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def add(self, path: str, handler: Handler, prefix: bool = False) -> None:
        (self.prefix_routes if prefix else self.routes)[path] = handler

    def start(self) -> WorkerHttpServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
