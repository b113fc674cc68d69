"""A real Prometheus, with the shipped configuration and rules, scraping the real pipeline on the demo clip."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from emostream.infra.emotions import EMOTIONS
from emostream.streams.keys import Keys
from tests.conftest import RedisServer, free_port
from tests.helpers import wait_for

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
OPS = REPO / "ops" / "prometheus"
DASHBOARD = REPO / "ops" / "grafana" / "dashboards" / "emostream.json"
JOBS = {"emostream-aggregator": "aggregator", "emostream-ingest": "ingest", "emostream-classifier": "classifier"}


class Prometheus:
    """``prometheus`` on a free loopback port, storing into a temporary folder."""

    def __init__(self, binary: str, config_file: Path, folder: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = folder / "prometheus.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config_file}",
                    f"--storage.tsdb.path={folder / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--log.level=warn",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_for(self.ready, 60, f"Prometheus did not become ready: {self.log.read_text()[-2000:]}", interval=0.2)

    def ready(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"Prometheus exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def api(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}{query}", timeout=10) as response:
            body = json.loads(response.read())
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        data = self.api("query", query=expr)
        assert data["resultType"] == "vector", data
        return list(data["result"])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def prometheus_config(ports: dict[str, int], folder: Path) -> Path:
    """The shipped prometheus.yml with this test's ports, a 1 s scrape interval and absolute rule paths."""
    config = yaml.safe_load((OPS / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["rule_files"] = [str((OPS / path).resolve()) for path in config["rule_files"]]
    for job in config["scrape_configs"]:
        job["static_configs"] = [{"targets": [f"127.0.0.1:{ports[JOBS[job['job_name']]]}"]}]
    path = folder / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def spawn(role: str, config_file: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMOSTREAM_")}
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "emostream", "--config", str(config_file), role], stdout=out, stderr=subprocess.STDOUT, env=env
        )


@pytest.fixture
def pipeline(redis_server: RedisServer, prefix: str, tmp_path: Path, demo_clip: Path) -> Iterator[tuple[dict[str, int], Prometheus]]:
    """The three workers on the demo clip (ingest stays up after the end) and a Prometheus scraping them."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("prometheus is not installed (Debian package 'prometheus'; scripts/system-deps.sh installs it)")
    ports = {"aggregator": free_port(), "classifier": free_port(), "ingest": free_port()}
    config = {
        "redis": {"url": redis_server.url, "prefix": prefix},
        # At the clip's own pace (12 s), so Prometheus scrapes the workers while they work:
        # as fast as it goes the clip is through before the first scrape of some target.
        "sources": [{"id": "demo", "url": str(demo_clip), "realtime": True}],
        "http": {f"{role}_port": port for role, port in ports.items()},
        "aggregator": {"summary_dir": str(tmp_path / "sessions"), "end_grace_s": 20},
        "ingest": {"exit_at_end": False},  # keep ingest's /metrics up to be scraped
    }
    config_file = tmp_path / "emostream.yaml"
    config_file.write_text(yaml.safe_dump(config))
    procs = {role: spawn(role, config_file, tmp_path / f"{role}.log") for role in ("aggregate", "classify", "ingest")}
    prometheus = Prometheus(binary, prometheus_config(ports, tmp_path), tmp_path)
    try:
        yield ports, prometheus
    finally:
        prometheus.stop()
        for role in ("ingest", "classify", "aggregate"):
            if procs[role].poll() is None:
                procs[role].send_signal(signal.SIGTERM)
        for role, proc in procs.items():
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            assert proc.returncode == 0, f"{role} exited with {proc.returncode}: {(tmp_path / f'{role}.log').read_text()[-3000:]}"


@pytest.mark.timeout(600)
def test_prometheus_counts_the_same_events_as_redis(pipeline: tuple[dict[str, int], Prometheus], rclient: redis.Redis, prefix: str) -> None:
    _, prometheus = pipeline
    keys = Keys(prefix)
    started = time.monotonic()
    # Given the demo clip processed end to end (its session summarised)
    raw = wait_for(lambda: rclient.xrange(keys.sessions), 360, "no session summary was published")
    summary = json.loads(raw[0][1][b"data"])
    events = [json.loads(f[b"data"]) for _, f in rclient.xrange(keys.events("demo"))]
    in_redis = Counter(e["emotion"]["label"] for e in events)
    # Every emotion has its series, 0 for those never seen (created when the source appeared).
    expected = {emotion: float(in_redis.get(emotion, 0)) for emotion in EMOTIONS}
    assert events and summary["faces"] == len(events), f"the aggregator counted {summary['faces']} of {len(events)} events"

    # When Prometheus has scraped the aggregator since then
    def by_emotion() -> dict[str, float]:
        result = prometheus.query("sum by (emotion) (emostream_aggregator_events_total)")
        return {r["metric"]["emotion"]: float(r["value"][1]) for r in result}

    def equal_to_redis() -> dict[str, float] | None:
        got = by_emotion()
        return got if got == expected else None

    in_prometheus = wait_for(equal_to_redis, 60, f"Prometheus never saw the events in Redis ({expected}); last: {by_emotion()}")
    # Then its counts per emotion equal the events on the stream
    assert in_prometheus == expected

    # Each target's first scrape comes at its own offset within the interval: a clip that is
    # through in a second can be summarised before one of them was scraped at all.
    def scraped() -> dict[str, str]:
        return {r["metric"]["job"]: r["value"][1] for r in prometheus.query('up{job=~"emostream-.*"}')}

    wait_for(lambda: scraped() == dict.fromkeys(JOBS, "1"), 30, "every worker must be scraped and up")

    # ... every shipped rule evaluates without error
    def rules_health() -> dict[str, str] | None:
        rules = {r["name"]: r["health"] for g in prometheus.api("rules")["groups"] for r in g["rules"]}
        return rules if rules and all(h == "ok" for h in rules.values()) else None

    health = wait_for(rules_health, 30, "some rules never evaluated cleanly")
    shipped = {rule.get("alert") or rule.get("record") for path in sorted((REPO / "ops" / "prometheus" / "rules").glob("*.yml"))
               for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"]}
    assert set(health) == shipped, f"loaded {sorted(health)}, shipped {sorted(shipped)}"
    # A rule evaluated before the second scrape has no rate yet: wait for one that has.
    wait_for(lambda: prometheus.query("source_emotion:emostream_aggregator_events:rate1m"), 30, "recording rules produce no series")

    # ... and every dashboard query returns data, 0 included: counters that nothing has
    # incremented (drops, reconnects, dead letters) exist at 0 from the start.
    dashboard = json.loads(DASHBOARD.read_text())
    empty = []
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            expr = target["expr"].replace("$__rate_interval", "1m").replace('"$source"', '".*"')
            if not prometheus.query(expr):
                empty.append(f"{panel['title']}: {expr}")
    assert not empty, "dashboard queries without data:\n" + "\n".join(empty)

    # ... and the tracks stream has one new and one end per face track
    tracks = [json.loads(f[b"data"]) for _, f in rclient.xrange(keys.tracks("demo"))]
    per_track = Counter((t["track_id"], t["type"]) for t in tracks)
    for track in {e["face"]["track_id"] for e in events}:
        assert per_track[(track, "new")] == 1 and per_track[(track, "end")] == 1, f"track {track}: {per_track}"
    print(f"pipeline + Prometheus check took {time.monotonic() - started:.0f} s for {len(events)} events, {len(tracks)} track events")
