"""Camera passwords never appear in logs, metrics, health, events, lifecycle messages or error messages.

Both a right and a wrong password are used against the RTSP camera with
authentication, so the success path (connect, stream, session) and the
failure path (401, retries) are both exercised.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from emostream.ingest.worker import IngestWorker
from tests.conftest import RedisServer
from tests.helpers import stop_roles, wait_for
from tests.support.ingest import errors, faces, metric
from tests.support.rtsp import RtspServer, free_port

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("rtsp"), pytest.mark.timeout(240)]

USER = "operator"
PASSWORD = "Zq7tPassw0rdX"  # unlikely to occur anywhere by chance
WRONG = "Wr0ngPassKq5"
SPECIAL = "s3cr:t@Zz9/"  # characters that must be percent-encoded in a URL


def everything_in_redis(client: redis.Redis, prefix: str) -> str:
    """Every key under the prefix and its content, as one text to search."""
    parts = []
    for key in client.scan_iter(f"{prefix}:*"):
        kind = client.type(key).decode()
        if kind == "stream":
            parts += [repr(fields) for _, fields in client.xrange(key)]
        elif kind == "hash":
            parts.append(repr(client.hgetall(key)))
        elif kind == "set":
            parts.append(repr(client.smembers(key)))
        elif kind == "string":
            parts.append(repr(client.get(key)))
        parts.append(key.decode())
    return "\n".join(parts)


def secrets_absent(text: str, where: str) -> None:
    from urllib.parse import quote

    for secret in (PASSWORD, WRONG, SPECIAL, quote(SPECIAL, safe="")):
        assert secret not in text, f"a camera password appeared in {where}:\n" + "\n".join(
            line for line in text.splitlines() if secret in line
        )[:2000]


def test_no_password_in_logs_metrics_health_or_redis_in_process(
    demo_clip: Path,
    tmp_path: Path,
    make_config: Any,
    run_worker: Callable[..., IngestWorker],
    rclient: redis.Redis,
    prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """caplog sees raw records (no redacting filter): the code itself must never log a URL unmasked."""
    caplog.set_level(logging.DEBUG)
    with RtspServer(free_port(), "/cam", file=demo_clip, fps=15, width=640, height=360, user=USER, password=PASSWORD) as cam, \
            RtspServer(free_port(), "/cam", fps=15, width=320, height=240, user=USER, password=SPECIAL) as special:
        password_file = tmp_path / "camera.pass"
        password_file.write_text(PASSWORD + "\n")
        sources = [
            {"id": "right", "url": cam.url, "fps": 5},
            {"id": "fromfile", "url": f"rtsp://{USER}@127.0.0.1:{cam.port}/cam", "password_file": str(password_file), "fps": 2},
            {"id": "wrong", "url": cam.url_with(USER, WRONG)},
            {"id": "special", "url": special.url, "fps": 2},
            {"id": "dead", "url": f"rtsp://{USER}:{PASSWORD}@127.0.0.1:{free_port()}/cam"},
        ]
        worker = run_worker(make_config(sources=sources, ingest={"reconnect_max_s": 1}, detector={"backend": "mediapipe"}))
        wait_for(lambda: len(faces(rclient, prefix, "right")) >= 3, 90, "no faces from the camera with the right password")
        wait_for(lambda: errors(worker, "wrong", "auth") >= 2, 30, "no auth errors")
        wait_for(lambda: metric(worker, "emostream_ingest_source_up", source="special") == 1, 30, "the special-character password failed")
        wait_for(lambda: metric(worker, "emostream_ingest_source_up", source="fromfile") == 1, 30, "the password from a file failed")
        wait_for(lambda: errors(worker, "dead", "unreachable") >= 2, 30, "no errors")
        cam.kill()  # a disconnect, logged with the source's name
        wait_for(lambda: errors(worker, "right", "disconnected") >= 1, 15, "no disconnect")
        assert worker.http is not None
        with urllib.request.urlopen(f"http://127.0.0.1:{worker.http.port}/metrics", timeout=5) as response:
            metrics_text = response.read().decode()
        with urllib.request.urlopen(f"http://127.0.0.1:{worker.http.port}/healthz", timeout=5) as response:
            health_text = response.read().decode()
        worker.stop.set()
        wait_for(lambda: not any(r.thread.is_alive() for r in worker.runners.values()), 30, "the sources did not stop")
    log_text = "\n".join(f"{r.getMessage()} {r.exc_text or ''} {r.exc_info or ''}" for r in caplog.records)
    assert "operator:***@" in log_text, "the logs should name the sources, masked"
    secrets_absent(log_text, "the log records")
    secrets_absent(metrics_text, "/metrics")
    secrets_absent(health_text, "/healthz")
    secrets_absent(everything_in_redis(rclient, prefix), "Redis (face jobs, lifecycle, worker state)")


def test_no_password_in_the_output_of_worker_processes_or_in_events(
    redis_server: RedisServer, prefix: str, tmp_path: Path, demo_clip: Path, rclient: redis.Redis
) -> None:
    """Real `emostream ingest` and `classify` processes at DEBUG: native FFmpeg/OpenCV output included."""
    from tests.e2e.test_pipeline import spawn

    with RtspServer(free_port(), "/cam", file=demo_clip, fps=15, width=640, height=360, user=USER, password=PASSWORD) as cam:
        ingest_port = free_port()
        config = {
            "redis": {"url": redis_server.url, "prefix": prefix},
            "sources": [{"id": "right", "url": cam.url, "fps": 3}, {"id": "wrong", "url": cam.url_with(USER, WRONG)}],
            "http": {"ingest_port": ingest_port, "classifier_port": free_port(), "aggregator_port": free_port()},
            "ingest": {"reconnect_max_s": 1},
            "log_level": "DEBUG",
        }
        config_file = tmp_path / "emostream.yaml"
        config_file.write_text(yaml.safe_dump(config))
        procs = {role: spawn(role, config_file, tmp_path / f"{role}.log") for role in ("classify", "ingest")}
        try:
            wait_for(lambda: rclient.xlen(f"{prefix}:events:right") >= 3, 180, "no events for the camera with the right password")
            with urllib.request.urlopen(f"http://127.0.0.1:{ingest_port}/metrics", timeout=5) as response:
                metrics_text = response.read().decode()
            assert 'emostream_ingest_source_errors_total{kind="auth",source="wrong"}' in metrics_text, "the wrong password was not counted"
            listing = subprocess.run(
                [sys.executable, "-m", "emostream", "--config", str(config_file), "sources", "list"],
                capture_output=True, text=True, timeout=60, env={k: v for k, v in os.environ.items() if not k.startswith("EMOSTREAM_")},
            )
            assert "right" in listing.stdout and "operator:***@" in listing.stdout, listing.stdout + listing.stderr
            cam.kill()
            time.sleep(1.5)
        finally:
            codes = stop_roles(procs)
    logs = {role: (tmp_path / f"{role}.log").read_text(errors="replace") for role in procs}
    assert codes == {"classify": 0, "ingest": 0}, logs["ingest"][-3000:]
    assert "operator:***@" in logs["ingest"], "the ingest log should name the sources, masked"
    for role, text in logs.items():
        secrets_absent(text, f"the {role} process output")
    secrets_absent(metrics_text, "/metrics")
    secrets_absent(listing.stdout + listing.stderr, "`emostream sources list`")
    secrets_absent(everything_in_redis(rclient, prefix), "Redis (events, face jobs, lifecycle, worker state)")
