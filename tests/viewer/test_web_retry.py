"""The live page retries an MJPEG stream the server refused (too many viewers), in headless Chromium."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from prometheus_client import CollectorRegistry

from emostream.infra.httpserver import WorkerHttpServer
from emostream.ingest.preview import PreviewPublisher
from emostream.streams.keys import Keys
from emostream.viewer.web import WebView
from tests.viewer.test_web import demo_frame

pytestmark = pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")


@pytest.fixture
def crowded(rclient: redis.Redis, prefix: str) -> Iterator[tuple[WorkerHttpServer, socket.socket]]:
    """A page server with one stream slot, already taken by another viewer."""
    keys = Keys(prefix)
    rclient.sadd(keys.sources, "demo")
    PreviewPublisher(rclient, keys, "demo", fps=5, max_width=640, blur=False, ttl_s=600).publish(demo_frame(), "demo-s1", 1, [], [])
    server = WorkerHttpServer("127.0.0.1", 0, CollectorRegistry(), lambda: {"ok": True}, max_connections=2, timeout_s=30)
    WebView(rclient, keys).register(server)
    server.start()
    viewer = socket.create_connection(("127.0.0.1", server.port))
    viewer.sendall(b"GET /live/demo.mjpg HTTP/1.0\r\n\r\n")
    assert viewer.recv(20).startswith(b"HTTP/1.0 200"), "the first viewer holds the only stream slot"
    yield server, viewer
    viewer.close()
    server.stop()


def test_a_refused_stream_is_tried_again(crowded: tuple[WorkerHttpServer, socket.socket], tmp_path: Path) -> None:
    server, viewer = crowded
    # When the page loads while the only stream slot is taken, and the slot frees up soon after
    page = subprocess.Popen(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=12000", "--dump-dom", f"http://127.0.0.1:{server.port}/"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    time.sleep(3)
    viewer.close()
    html, err = page.communicate(timeout=120)
    # Then the page asked for the stream again (a retry carries a cache-busting query)
    assert page.returncode == 0, err[-2000:]
    assert "/live/demo.mjpg?t=" in html, f"the refused stream was not retried:\n{html[-1500:]}"
