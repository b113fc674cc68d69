"""The /metrics and /healthz endpoints listen on loopback only, unless configured otherwise."""

from __future__ import annotations

import urllib.request
from typing import Any

from emostream.aggregator.worker import AggregatorWorker
from emostream.config import HttpConfig, load_config
from tests.security.listening import listening_addresses


def test_the_default_bind_address_is_loopback() -> None:
    assert HttpConfig().host == "127.0.0.1"
    assert load_config(None, environ={}).http.host == "127.0.0.1"


def test_a_workers_metrics_server_listens_on_127_0_0_1_only(make_config: Any) -> None:
    worker = AggregatorWorker(make_config())
    worker.start_http()
    assert worker.http is not None
    try:
        port = worker.http.port
        assert listening_addresses(port) == {"127.0.0.1"}, f"/metrics listens on {listening_addresses(port)}"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            assert b"emostream_" in response.read()
    finally:
        worker.http.stop()


def test_the_bind_address_is_configurable(make_config: Any) -> None:
    """Guard for the test above: the check sees another address when one is configured (still loopback here)."""
    worker = AggregatorWorker(make_config(http={"host": "127.0.0.2", "aggregator_port": 0}))
    worker.start_http()
    assert worker.http is not None
    try:
        assert listening_addresses(worker.http.port) == {"127.0.0.2"}
    finally:
        worker.http.stop()
