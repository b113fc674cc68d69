"""The HTTP server stays bounded under idle floods, slow clients and many MJPEG viewers.

A real aggregator process with the live web view serves a real Redis; the test
opens hundreds of loopback connections against it for a few seconds and reads
the child's thread count and memory from /proc, and its stderr at the end.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from emostream.config import dump_config
from emostream.streams.keys import Keys
from tests.conftest import free_port
from tests.helpers import wait_for

pytestmark = pytest.mark.slow  # a real aggregator process under hundreds of connections

MAX_CONNECTIONS = 16
TIMEOUT_S = 2.0


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    port: int
    stderr: Path

    def status(self, field: str) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise AssertionError(f"no {field} in /proc/{self.proc.pid}/status")

    def get(self, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()


@pytest.fixture
def served(make_config: Any, rclient: redis.Redis, prefix: str, tmp_path: Path) -> Iterator[Served]:
    """An aggregator with the web view and a small connection cap, one source with a live preview frame."""
    from emostream.ingest.preview import PreviewPublisher
    from tests.viewer.test_web import demo_frame

    keys = Keys(prefix)
    rclient.sadd(keys.sources, "demo")
    PreviewPublisher(rclient, keys, "demo", fps=5, max_width=640, blur=False, ttl_s=600).publish(demo_frame(), "demo-s1", 1, [(104, 114, 122, 122)], [1])
    port = free_port()
    config = make_config(http={"aggregator_port": port, "max_connections": MAX_CONNECTIONS, "timeout_s": TIMEOUT_S}, web={"enabled": True})
    path = tmp_path / "config.yaml"
    path.write_text(dump_config(config))
    stderr = tmp_path / "stderr.log"
    with open(stderr, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "emostream", "--config", str(path), "aggregate"], stderr=err)
    server = Served(proc, port, stderr)
    try:
        wait_for(lambda: _answers(server), 60, "the aggregator's /healthz never answered")
        yield server
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(20)
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _answers(server: Served) -> bool:
    if server.proc.poll() is not None:
        raise AssertionError(f"the aggregator exited: {server.stderr.read_text()}")
    try:
        return server.get("/healthz", timeout=2)[0] == 200
    except OSError:
        return False


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    return sock


def _closed_by_server(sock: socket.socket) -> bool:
    sock.settimeout(0.05)
    try:
        return sock.recv(65536) == b""
    except TimeoutError:
        return False
    except OSError:
        return True


def test_idle_and_slow_clients_hold_no_threads_and_are_dropped(served: Served) -> None:
    # Given a running aggregator, its threads and memory at rest
    threads_before, rss_before = served.status("Threads"), served.status("VmRSS")
    # When 300 clients connect and send nothing, and 40 trickle a request one byte at a time
    idle = [_connect(served.port) for _ in range(300)]
    slow = [_connect(served.port) for _ in range(40)]
    for _ in range(3):
        for sock in slow:
            with contextlib.suppress(OSError):
                sock.send(b"G")
        time.sleep(0.3)
    try:
        # Then /healthz still answers, and threads and memory have stayed bounded
        status, body = served.get("/healthz")
        assert status == 200, f"/healthz answered {status} {body!r} under an idle flood"
        threads = served.status("Threads")
        assert threads <= threads_before + MAX_CONNECTIONS + 2, f"{threads} threads (was {threads_before}): connections are not bounded"
        rss_growth_mb = (served.status("VmRSS") - rss_before) / 1024
        assert rss_growth_mb < 100, f"memory grew by {rss_growth_mb:.0f} MB under 340 idle connections"
        # And the silent and the slow are closed once the timeout has passed
        time.sleep(TIMEOUT_S + 1.5)
        still_open = [s for s in idle + slow if not _closed_by_server(s)]
        assert not still_open, f"{len(still_open)} idle or slow connections still open after the {TIMEOUT_S} s timeout"
        assert served.status("Threads") <= threads_before + 2, "threads of dropped clients did not end"
    finally:
        for sock in idle + slow:
            sock.close()
    _stop_and_check_stderr(served)


def test_many_mjpeg_viewers_are_capped_and_health_and_metrics_still_answer(served: Served) -> None:
    threads_before = served.status("Threads")
    request = b"GET /live/demo.mjpg HTTP/1.1\r\nHost: x\r\n\r\n"
    viewers = [_connect(served.port) for _ in range(60)]
    for sock in viewers:
        sock.sendall(request)
    heads: list[bytes] = []
    for sock in viewers:
        sock.settimeout(5)
        try:
            heads.append(sock.recv(200))
        except OSError:
            heads.append(b"")
    streaming = sum(1 for h in heads if h.startswith(b"HTTP/1.0 200"))
    busy = sum(1 for h in heads if h.startswith(b"HTTP/1.0 503"))
    try:
        assert 1 <= streaming <= MAX_CONNECTIONS // 2, f"{streaming} streams served; at most {MAX_CONNECTIONS // 2} may be"
        assert streaming + busy == len(viewers), f"every viewer gets a stream or a clear 503: {set(h[-80:] for h in heads)}"
        assert served.get("/healthz")[0] == 200, "/healthz must answer while streams hold their share of slots"
        status, metrics = served.get("/metrics")
        assert status == 200 and b"emostream_aggregator" in metrics
        assert served.status("Threads") <= threads_before + MAX_CONNECTIONS + 2
        # Viewers that stop reading are dropped once the socket buffers are full and the timeout has passed
        wait_for(lambda: served.status("Threads") <= threads_before + 2, 90, "streams to viewers that stopped reading were not ended")
    finally:
        for sock in viewers:
            sock.close()
    with urllib.request.urlopen(f"http://127.0.0.1:{served.port}/live/demo.mjpg", timeout=5) as response:
        assert b"Content-Type: image/jpeg" in response.read(300), "a new viewer gets frames once slots are free"
    _stop_and_check_stderr(served)


def _stop_and_check_stderr(served: Served) -> None:
    served.proc.terminate()
    assert served.proc.wait(30) == 0, "the aggregator did not stop cleanly"
    log = served.stderr.read_text()
    assert "Traceback" not in log, f"a traceback reached stderr:\n{log[-3000:]}"
