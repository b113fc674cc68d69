"""The worker HTTP server: prometheus_client's exposition, one health call per probe, frames rendered once."""

from __future__ import annotations

import gzip
import threading
import time
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, Counter

from emostream.infra.httpserver import WorkerHttpServer
from emostream.viewer.broadcast import FrameBroadcast


@pytest.fixture
def server() -> Iterator[tuple[WorkerHttpServer, list[int]]]:
    registry = CollectorRegistry()
    Counter("emostream_test_things", "Things.", registry=registry).inc(3)
    Counter("emostream_test_other", "Other things.", registry=registry).inc()
    calls: list[int] = []

    def health() -> dict[str, object]:
        calls.append(1)
        return {"ok": False, "role": "test"}

    http = WorkerHttpServer("127.0.0.1", 0, registry, health, max_connections=4, timeout_s=2).start()
    yield http, calls
    http.stop()


def fetch(http: WorkerHttpServer, path: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{http.port}{path}", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_metrics_are_gzipped_when_the_scraper_asks(server: tuple[WorkerHttpServer, list[int]]) -> None:
    http, _ = server
    status, headers, body = fetch(http, "/metrics", **{"Accept-Encoding": "gzip"})
    assert status == 200 and headers.get("Content-Encoding") == "gzip", headers
    assert b"emostream_test_things_total 3.0" in gzip.decompress(body)


def test_metrics_negotiate_openmetrics_and_filter_by_name(server: tuple[WorkerHttpServer, list[int]]) -> None:
    http, _ = server
    status, headers, body = fetch(http, "/metrics?name[]=emostream_test_things_total", Accept="application/openmetrics-text; version=1.0.0")
    assert status == 200 and headers["Content-Type"].startswith("application/openmetrics-text"), headers
    assert body.rstrip().endswith(b"# EOF"), "OpenMetrics output ends with # EOF"
    assert b"emostream_test_things_total 3.0" in body and b"emostream_test_other" not in body, body


def test_plain_scrape_is_the_text_format(server: tuple[WorkerHttpServer, list[int]]) -> None:
    http, _ = server
    status, headers, body = fetch(http, "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain") and "Content-Encoding" not in headers
    assert b"# TYPE emostream_test_things_total counter" in body


def test_health_runs_once_per_probe_and_its_ok_sets_the_status(server: tuple[WorkerHttpServer, list[int]]) -> None:
    http, calls = server
    status, _, body = fetch(http, "/healthz")
    assert status == 503 and b'"ok": false' in body
    assert len(calls) == 1, f"health() ran {len(calls)} times for one request"


def test_a_failing_handler_answers_500_and_the_server_goes_on(server: tuple[WorkerHttpServer, list[int]]) -> None:
    http, _ = server

    def broken(_path: str) -> tuple[int, str, bytes]:
        raise RuntimeError("boom")

    http.add("/broken", broken)
    assert fetch(http, "/broken")[0] == 500
    assert fetch(http, "/metrics")[0] == 200


def test_each_frame_is_rendered_once_for_all_viewers() -> None:
    renders: list[str] = []

    def render(source: str) -> bytes:
        renders.append(source)
        time.sleep(0.01)
        return f"frame {len(renders)}".encode()

    broadcast = FrameBroadcast(render, interval_s=0.1)
    received: list[list[bytes]] = [[] for _ in range(30)]

    def viewer(out: list[bytes]) -> None:
        seq = 0
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            seq, jpeg = broadcast.next_frame("cam", seq, timeout_s=0.5)
            if jpeg is not None:
                out.append(jpeg)

    threads = [threading.Thread(target=viewer, args=(out,)) for out in received]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # 1 s at one frame per 0.1 s: about 10 renders for 30 viewers, not 300
    assert len(renders) <= 14, f"{len(renders)} renders for 30 viewers over 1 s"
    assert all(len(frames) >= 5 for frames in received), [len(f) for f in received]
    assert all(len(set(frames)) == len(frames) for frames in received), "a viewer got the same frame twice"


def head(http: WorkerHttpServer, path: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{http.port}{path}", method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_head_metrics_answers_get_s_headers_without_a_body(server: tuple[WorkerHttpServer, list[int]]) -> None:
    http, _ = server
    _, got_headers, got_body = fetch(http, "/metrics")
    status, headers, body = head(http, "/metrics")
    assert status == 200 and body == b"", (status, body[:100])
    assert headers["Content-Type"] == got_headers["Content-Type"]
    assert int(headers["Content-Length"]) == len(got_body), "HEAD announces the length GET sends"


def test_head_healthz_carries_the_health_status(server: tuple[WorkerHttpServer, list[int]]) -> None:
    http, calls = server
    status, headers, body = head(http, "/healthz")
    assert status == 503 and body == b"" and headers["Content-Type"] == "application/json", (status, headers)
    assert len(calls) == 1


def test_head_elsewhere_is_refused_and_the_server_goes_on(server: tuple[WorkerHttpServer, list[int]]) -> None:
    http, _ = server
    assert head(http, "/nothing")[0] == 404
    assert fetch(http, "/metrics")[0] == 200
