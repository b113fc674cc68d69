"""Faults in the middle of a run: a role killed with SIGKILL and restarted, Redis restarted.

The demo clip plays at real-time pace (12 s), so there is a middle to interrupt.
Whatever happens, every face of the clip must yield exactly one event and one
count in the session summary.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from emostream.streams.keys import Keys
from emostream.streams.lifecycle import SessionEnd, decode_lifecycle
from tests.conftest import RedisServer
from tests.e2e.test_pipeline import spawn
from tests.helpers import stop_roles, wait_for

pytestmark = pytest.mark.slow
ROLES = ("aggregate", "classify", "ingest")


@pytest.fixture
def persistent_redis() -> Iterator[RedisServer]:
    """A Redis of its own with an append-only file, so it can be restarted without losing data."""
    server = RedisServer(persist=True).start()
    yield server
    server.stop()


class Pipeline:
    def __init__(self, tmp_path: Path, url: str, prefix: str, demo_clip: Path) -> None:
        self.tmp_path = tmp_path
        self.keys = Keys(prefix)
        config = {
            "redis": {"url": url, "prefix": prefix},
            "sources": [{"id": "demo", "url": str(demo_clip), "realtime": True}],
            "http": {"aggregator_port": 0, "classifier_port": 0, "ingest_port": 0},
            "aggregator": {"summary_dir": str(tmp_path / "sessions"), "claim_idle_ms": 1000, "reorder_ms": 200},
            "classifier": {"claim_idle_ms": 1000},
        }
        self.config_file = tmp_path / "emostream.yaml"
        self.config_file.write_text(yaml.safe_dump(config))
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.starts: dict[str, int] = {}

    def start(self, role: str) -> None:
        self.starts[role] = self.starts.get(role, 0) + 1
        self.procs[role] = spawn(role, self.config_file, self.tmp_path / f"{role}.{self.starts[role]}.log")

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(self.tmp_path.glob("*.log")))

    def stop_all(self) -> dict[str, int]:
        """Ingest ends by itself with the clip; then the others are stopped with SIGTERM."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.procs["ingest"].wait(30)
        return stop_roles(self.procs)


def events(client: redis.Redis, keys: Keys) -> list[dict[str, Any]]:
    return [json.loads(f[b"data"]) for _, f in client.xrange(keys.events("demo"))]


def check_exactly_once(client: redis.Redis, keys: Keys, demo_clip: Path, logs: str) -> dict[str, Any]:
    """Every face of the clip: one event, one count; returns the summary."""
    raw = wait_for(lambda: client.xrange(keys.sessions), 90, "no session summary was published\n" + logs)
    summaries = [json.loads(f[b"data"]) for _, f in raw]
    assert len(summaries) == 1, f"one session expected, got {[s['session'] for s in summaries]}"
    summary = summaries[0]
    ends = [m for m in (decode_lifecycle(f) for _, f in client.xrange(keys.lifecycle)) if isinstance(m, SessionEnd)]
    assert {e.session for e in ends} == {summary["session"]}, "the restarted ingest must continue the same session"
    published = ends[-1].faces
    ids = [e["event_id"] for e in events(client, keys)]
    assert len(ids) == len(set(ids)), f"{len(ids) - len(set(ids))} faces produced a second event"
    assert len(ids) == published, f"ingest published {published} faces but {len(ids)} events came out"
    assert summary["faces"] == published, f"the summary counts {summary['faces']} faces, {published} were published"
    truth = json.loads(demo_clip.with_suffix(".json").read_text())
    assert summary["frames"]["analysed"] == truth["frames"], "every frame of the clip analysed exactly once"
    visible = sum(len(faces) for faces in truth["faces"])
    assert published >= 0.95 * visible, f"only {published} of {visible} faces were detected"
    return summary


@pytest.mark.parametrize("victim", ROLES)
def test_a_role_killed_mid_run_and_restarted_loses_nothing_and_counts_nothing_twice(
    victim: str, redis_server: RedisServer, prefix: str, tmp_path: Path, demo_clip: Path, rclient: redis.Redis
) -> None:
    pipeline = Pipeline(tmp_path, redis_server.url, prefix, demo_clip)
    try:
        for role in ROLES:
            pipeline.start(role)
        wait_for(lambda: len(events(rclient, pipeline.keys)) >= 60, 120, "the pipeline never got going\n" + pipeline.logs())
        pipeline.procs[victim].send_signal(signal.SIGKILL)
        pipeline.procs[victim].wait(10)
        time.sleep(1.0)
        pipeline.start(victim)
        check_exactly_once(rclient, pipeline.keys, demo_clip, pipeline.logs())
    finally:
        codes = pipeline.stop_all()
    assert all(code == 0 for code in codes.values()), f"{codes}\n{pipeline.logs()}"


def test_workers_ride_out_a_redis_restart(persistent_redis: RedisServer, prefix: str, tmp_path: Path, demo_clip: Path) -> None:
    client = redis.Redis.from_url(persistent_redis.url)
    pipeline = Pipeline(tmp_path, persistent_redis.url, prefix, demo_clip)
    try:
        for role in ROLES:
            pipeline.start(role)
        wait_for(lambda: len(events(client, pipeline.keys)) >= 60, 120, "the pipeline never got going\n" + pipeline.logs())
        persistent_redis.restart(down_s=2.0)
        for role, proc in pipeline.procs.items():
            assert proc.poll() is None, f"{role} died when Redis went away\n{pipeline.logs()}"
        check_exactly_once(client, pipeline.keys, demo_clip, pipeline.logs())
        logs = pipeline.logs()
    finally:
        codes = pipeline.stop_all()
    assert all(code == 0 for code in codes.values()), f"{codes}\n{pipeline.logs()}"
    for role in ROLES:
        text = (tmp_path / f"{role}.1.log").read_text()
        lost = text.count("lost Redis")
        assert 1 <= lost <= 3, f"{role} should log the outage once (per thread), logged it {lost} times\n{text[-3000:]}"
        assert "Traceback" not in text, f"{role} logged a stack trace for a Redis restart\n{text[-3000:]}"
    assert "Redis is back" in logs
