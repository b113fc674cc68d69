"""Limits that keep the workers' HTTP server bounded whatever its clients do.

Details at :class:`BoundedHTTPServer`.
"""

from __future__ import annotations

import contextlib
import io
import logging
import selectors
import socket
import threading
import time
from collections import OrderedDict
from http.server import ThreadingHTTPServer
from typing import Any

log = logging.getLogger(__name__)

MAX_HEAD = 64 * 1024  # a request head longer than this is answered by http.server's 431
RESERVED_SLOTS = 2  # handler threads only /healthz and /metrics may take, once every other slot is busy
PROBES = (b"GET /healthz", b"GET /metrics")
BUSY = (
    b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
    b"Connection: close\r\nContent-Length: 27\r\n\r\n{\"error\": \"server is busy\"}"
)


class PrefixedReader(io.RawIOBase):
    """Reads what the waiting room already received, then the socket (whose timeout bounds each read)."""

    def __init__(self, sock: socket.socket, prefix: bytes) -> None:
        super().__init__()
        self.sock, self._prefix = sock, memoryview(prefix)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._prefix:
            n = min(len(buffer), len(self._prefix))
            buffer[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        return self.sock.recv_into(buffer)


class WaitingRoom:
    """Accepted connections that have not sent anything yet, watched by one thread."""

    def __init__(self, admit: Any, timeout_s: float, max_waiting: int) -> None:
        self._admit = admit
        self.timeout_s, self.max_waiting = timeout_s, max_waiting
        self._selector = selectors.DefaultSelector()
        # socket -> (deadline, client address, what it has sent so far)
        self._waiting: OrderedDict[socket.socket, tuple[float, Any, bytearray]] = OrderedDict()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()  # wakes the watcher when closing
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._thread = threading.Thread(target=self._watch, name="http-waiting-room", daemon=True)
        self._thread.start()

    def __len__(self) -> int:
        return len(self._waiting)

    def add(self, sock: socket.socket, address: Any) -> None:
        with self._lock:
            while len(self._waiting) >= self.max_waiting:  # the oldest silent client makes way
                oldest = next(iter(self._waiting))
                self._drop(oldest)
            sock.setblocking(False)
            self._waiting[sock] = (time.monotonic() + self.timeout_s, address, bytearray())
            self._selector.register(sock, selectors.EVENT_READ)  # epoll sees it even during a select()

    def _drop(self, sock: socket.socket) -> None:
        self._waiting.pop(sock, None)
        self._selector.unregister(sock)
        _close(sock)

    def _watch(self) -> None:
        while not self._stop.is_set():
            for key, _ in self._selector.select(timeout=0.5):
                sock = key.fileobj
                if sock is self._wake_r:
                    self._wake_r.recv(4096)
                    continue
                complete = self._receive(sock)  # type: ignore[arg-type]
                if complete is None:
                    continue
                try:
                    self._admit(sock, *complete)
                except Exception as exc:  # e.g. no thread could be started; this thread must live on
                    log.warning("http: could not serve a request from %s: %s", complete[0], exc)
            now = time.monotonic()
            with self._lock:
                for sock in [s for s, (deadline, _, _) in self._waiting.items() if deadline < now]:
                    self._drop(sock)

    def _receive(self, sock: socket.socket) -> tuple[Any, bytes] | None:
        """(address, request head) once the head is complete; None while it is not (or the client left)."""
        with self._lock:
            if sock not in self._waiting:
                return None
            _, address, head = self._waiting[sock]
            try:
                chunk = sock.recv(MAX_HEAD - len(head))
            except BlockingIOError:
                return None
            except OSError:
                chunk = b""
            head += chunk
            if chunk and b"\r\n\r\n" not in head and b"\n\n" not in head and len(head) < MAX_HEAD:
                return None
            self._waiting.pop(sock)
            self._selector.unregister(sock)
        if not chunk:  # the client went away before sending a request
            _close(sock)
            return None
        sock.setblocking(True)
        return address, bytes(head)  # complete, or too long: the handler answers 431

    def close(self) -> None:
        self._stop.set()
        self._wake_w.send(b"\0")
        self._thread.join(timeout=2)
        with self._lock:
            for sock in list(self._waiting):
                self._drop(sock)
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()


class BindError(OSError):
    """The server's address cannot be had (port taken, host unknown or not local, no permission); one line says which."""

    def __init__(self, address: tuple[str, int], cause: OSError) -> None:
        reason = cause.strerror or str(cause)
        super().__init__(f"cannot serve HTTP on {address[0]}:{address[1]}: {reason}")
        self.errno = cause.errno  # EADDRINUSE tells a taken port from a bad host


class BoundedHTTPServer(ThreadingHTTPServer):
    """``ThreadingHTTPServer`` with a waiting room, a fixed number of handler threads and quiet errors.

    The server is the standard library's thread-per-connection ``http.server``;
    three things keep it bounded:

    - **A waiting room.** A connection gets no thread until its whole request
      head (up to the blank line) has arrived: one thread reads every such
      connection without blocking and closes those not complete within the
      timeout. A flood of idle, half-open or slow (one byte at a time) clients
      therefore costs file descriptors and a few bytes each, never threads, and
      the room holds at most ``max_waiting`` of them (the oldest is closed to
      make space, so a new client such as a probe of ``/healthz`` gets in).
    - **A fixed number of handler slots.** A complete request gets one of
      ``max_connections`` threads; past that it is answered ``503`` at once,
      unless it is a probe (``GET /healthz`` or ``GET /metrics``): those have
      ``RESERVED_SLOTS`` more threads of their own, so a flood of other
      requests (charts, streams) never makes a healthy worker look dead.
    - **Timeouts on every later read and write**, so a viewer that stops
      reading a stream is dropped after the timeout too.

    Why not uvicorn or aiohttp: see ``docs/decisions.md`` (HTTP server).
    """

    daemon_threads = True
    block_on_close = False
    request_queue_size = 256  # the listen backlog; the default 5 makes a burst of clients wait on SYN retries

    def __init__(self, address: tuple[str, int], handler: Any, max_connections: int, timeout_s: float, sock: socket.socket | None = None) -> None:
        super().__init__(address, handler, bind_and_activate=False)
        if sock is not None:  # already bound and listening (inherited from ``emostream run``)
            self.socket.close()
            self.socket = sock
            self.server_address = sock.getsockname()[:2]
            self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])
        else:
            self._bind(address)
        self.max_connections, self.timeout_s = max_connections, timeout_s
        self._slots = threading.BoundedSemaphore(max_connections)
        self._reserved = threading.BoundedSemaphore(RESERVED_SLOTS)
        self._held: dict[socket.socket, threading.BoundedSemaphore] = {}  # the slot each request holds
        self._busy = 0
        self._heads: dict[socket.socket, bytes] = {}
        self._count_lock = threading.Lock()
        self.waiting = WaitingRoom(self._admit, timeout_s, max_waiting=max(256, 8 * max_connections))

    def _bind(self, address: tuple[str, int]) -> None:
        """Bind and listen here, so that a port or host that cannot be had is one clear error, not a half-built server."""
        try:
            self.server_bind()
            self.server_activate()
        except OSError as exc:
            self.socket.close()
            raise BindError(address, exc) from None

    @property
    def busy(self) -> int:
        """Connections being served now (each holds one thread)."""
        return self._busy

    def process_request(self, request: Any, client_address: Any) -> None:
        self.waiting.add(request, client_address)

    def received(self, request: socket.socket) -> bytes:
        """What the waiting room read of this request; the handler reads it first."""
        with self._count_lock:
            return self._heads.pop(request, b"")

    def _admit(self, request: socket.socket, client_address: Any, head: bytes) -> None:
        slot = self._slots
        if not slot.acquire(blocking=False):
            slot = self._reserved
            if not (_is_probe(head) and slot.acquire(blocking=False)):
                _refuse(request)
                return
        with self._count_lock:
            self._heads[request] = head
            self._held[request] = slot
            self._busy += 1
        try:
            super().process_request(request, client_address)
        except Exception:  # e.g. no thread could be started: the slot must not leak
            self.received(request)
            self._release(request)
            _close(request)
            raise

    def _release(self, request: socket.socket) -> None:
        with self._count_lock:
            self._busy -= 1
            slot = self._held.pop(request, self._slots)
        slot.release()

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._release(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The default prints a traceback to stderr; a client that vanished or timed out is no error of ours.
        log.debug("http: connection from %s ended with an error", client_address, exc_info=True)

    def server_close(self) -> None:
        self.waiting.close()
        super().server_close()


def _is_probe(head: bytes) -> bool:
    return any(head.startswith(probe) and head[len(probe) : len(probe) + 1] in (b" ", b"?") for probe in PROBES)


def _refuse(sock: socket.socket) -> None:
    try:
        sock.setblocking(False)
        sock.send(BUSY)
    except OSError:
        pass
    _close(sock)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
