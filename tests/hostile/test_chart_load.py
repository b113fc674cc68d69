"""Health stays honest under chart load: /healthz and /metrics have slots of their own, charts are drawn once.

64 clients looping on a session's timeline.png once took every handler
thread: 62 of 65 health probes got 503 and a liveness probe would have
restarted a healthy aggregator.
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
import redis

from emostream.aggregator.worker import AggregatorWorker
from tests.aggregator.support import run_until_summary, stepped
from tests.hostile.support import session

pytestmark = pytest.mark.timeout(120)
CLIENTS = 24
LOAD_S = 6.0


def get(url: str, timeout: float = 5.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def test_health_probes_answer_while_many_clients_loop_on_charts(make_config: Any, rclient: redis.Redis) -> None:
    # Given an aggregator with 8 handler slots and a summarised session
    worker = stepped(make_config(aggregator={"reorder_ms": 0}, http={"max_connections": 8}))
    session(rclient, worker, "cam1-a")
    run_until_summary(worker, rclient, "cam1-a")
    worker.start_http()
    assert worker.http is not None
    base = f"http://127.0.0.1:{worker.http.port}"
    stop = threading.Event()
    charts: list[int] = []

    def client() -> None:
        while not stop.is_set():
            charts.append(get(f"{base}/sessions/cam1-a/timeline.png"))

    threads = [threading.Thread(target=client, daemon=True) for _ in range(CLIENTS)]
    try:
        # When three times as many clients as slots loop on its chart
        for thread in threads:
            thread.start()
        probes: list[tuple[int, float]] = []
        deadline = time.monotonic() + LOAD_S
        while time.monotonic() < deadline:
            began = time.monotonic()
            path = "/healthz" if len(probes) % 2 == 0 else "/metrics"
            probes.append((get(base + path, timeout=3.0), time.monotonic() - began))
            time.sleep(0.1)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        worker.http.stop()
    # Then every probe was answered 200 within its timeout, the chart was served, and drawn once
    assert [status for status, _ in probes] == [200] * len(probes), probes
    assert max(took for _, took in probes) < 3.0
    assert charts.count(200) > 0, charts[:20]
    assert SessionsChartsRendered.of(worker) == 1


class SessionsChartsRendered:
    """How many charts the aggregator drew (its HTTP API's cache counts them)."""

    @staticmethod
    def of(worker: AggregatorWorker) -> int:
        assert worker.http is not None
        handler = worker.http.prefix_routes["/sessions/"]
        return int(handler.__self__.charts.rendered)  # type: ignore[attr-defined]
