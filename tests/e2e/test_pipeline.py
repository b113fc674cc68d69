"""End to end: the real worker processes on the bundled demo clip, against a real Redis."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
import redis
import yaml
from prometheus_client.parser import text_string_to_metric_families

from emostream.infra.buildinfo import package_version
from emostream.streams.keys import Keys
from emostream.streams.lifecycle import decode_lifecycle
from emostream.streams.schema import event_errors, schema_errors
from tests.conftest import RedisServer, free_port
from tests.helpers import stop_roles, wait_for

pytestmark = pytest.mark.slow


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def metric_sum(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return sum(v for (n, lab), v in samples.items() if n == name and all((k, val) in lab for k, val in labels.items()))


def spawn(role: str, config_file: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMOSTREAM_")}
    with open(log, "wb") as out:
        return subprocess.Popen([sys.executable, "-m", "emostream", "--config", str(config_file), role], stdout=out, stderr=subprocess.STDOUT, env=env)


def test_every_face_of_the_demo_clip_yields_one_event_counted_everywhere(
    redis_server: RedisServer, prefix: str, tmp_path: Path, demo_clip: Path, rclient: redis.Redis
) -> None:
    ports = {"aggregator": free_port(), "classifier": free_port(), "ingest": free_port()}
    config = {
        "redis": {"url": redis_server.url, "prefix": prefix},
        "sources": [{"id": "demo", "url": str(demo_clip)}],
        "http": {f"{role}_port": port for role, port in ports.items()},
        "aggregator": {"summary_dir": str(tmp_path / "sessions")},
        "classifier": {"batch_max": 32, "batch_wait_ms": 20},
        "ingest": {"exit_at_end": False},  # keep ingest's /metrics up for the scrape
    }
    config_file = tmp_path / "emostream.yaml"
    config_file.write_text(yaml.safe_dump(config))
    keys = Keys(prefix)
    procs = {role: spawn(role, config_file, tmp_path / f"{role}.log") for role in ("aggregate", "classify", "ingest")}
    try:
        raw = wait_for(lambda: rclient.xrange(keys.sessions), 240, "no session summary was published")
        summary = json.loads(raw[0][1][b"data"])
        aggregator_metrics, ingest_metrics = scrape(ports["aggregator"]), scrape(ports["ingest"])
        classifier_metrics = scrape(ports["classifier"])
        codes = stop_roles({role: procs[role] for role in ("ingest", "classify", "aggregate")})
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
    logs = {role: (tmp_path / f"{role}.log").read_text() for role in procs}
    assert codes == {"aggregate": 0, "classify": 0, "ingest": 0}, logs
    assert "classifier stopped ◆" in logs["classify"] and "aggregator stopped ◆" in logs["aggregate"], logs

    # Every detected face produced exactly one event.
    ends = [m for m in (decode_lifecycle(f) for _, f in rclient.xrange(keys.lifecycle)) if m.kind == "end"]
    assert len(ends) == 1
    published_faces = ends[0].faces  # type: ignore[union-attr]
    events = [json.loads(f[b"data"]) for _, f in rclient.xrange(keys.events("demo"))]
    ids = [e["event_id"] for e in events]
    assert len(ids) == len(set(ids)), "an event was published twice"
    assert len(events) == published_faces, f"{published_faces} faces were published but {len(events)} events came out"
    truth = json.loads(demo_clip.with_suffix(".json").read_text())
    visible = sum(len(faces) for faces in truth["faces"])
    assert published_faces >= 0.95 * visible, f"detected {published_faces} of {visible} visible faces"

    # Every event validates against the schema.
    for event in events:
        assert event_errors(event) == [], (event["event_id"], event_errors(event))

    # Track events and the summary validate against their schemas, as published and as written to disk.
    tracks = [json.loads(f[b"data"]) for _, f in rclient.xrange(keys.tracks("demo"))]
    assert {t["type"] for t in tracks} == {"new", "update", "end"}, "a real run has every kind of track event"
    for track in tracks:
        assert schema_errors("track", track) == [], (track["id"], schema_errors("track", track))
    assert schema_errors("summary", summary) == []
    on_disk = json.loads((tmp_path / "sessions" / f"{summary['session']}.json").read_text())
    assert schema_errors("summary", on_disk) == []

    # The summary's counts equal the events.
    by_emotion = Counter(e["emotion"]["label"] for e in events)
    assert summary["faces"] == len(events)
    assert {k: v for k, v in summary["emotions"]["counts"].items() if v} == dict(by_emotion)
    assert summary["frames"]["analysed"] == truth["frames"]
    assert summary["tracks"] == len({e["face"]["track_id"] for e in events})
    assert (tmp_path / "sessions" / f"{summary['session']}.json").is_file()
    assert (tmp_path / "sessions" / f"{summary['session']}.timeline.png").is_file()

    # /metrics reports the same counts.
    for emotion, count in by_emotion.items():
        got = metric_sum(aggregator_metrics, "emostream_aggregator_events_total", source="demo", emotion=emotion)
        assert got == count, f"/metrics says {got} {emotion} events, the stream has {count}"
    assert metric_sum(ingest_metrics, "emostream_ingest_faces_total", source="demo", outcome="published") == len(events)
    assert metric_sum(ingest_metrics, "emostream_ingest_frames_total", source="demo", outcome="analysed") == truth["frames"]
    assert metric_sum(aggregator_metrics, "emostream_aggregator_sessions_ended_total", source="demo") == 1

    # Every role exports its process and build information (tests/infra/test_process_metrics.py has the details).
    for role, samples in (("ingest", ingest_metrics), ("classifier", classifier_metrics), ("aggregator", aggregator_metrics)):
        assert metric_sum(samples, "process_resident_memory_bytes") > 10 * 2**20, f"{role} has no process_resident_memory_bytes"
        assert metric_sum(samples, "emostream_build_info", version=package_version()) == 1, f"{role} has no emostream_build_info"


def test_emostream_run_on_the_defaults_prints_events_and_a_summary(tmp_path: Path) -> None:
    """What `make run` does: embedded Redis, bundled clip, live view, summary, exit 0."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMOSTREAM_")}
    env.update(EMOSTREAM_HTTP__INGEST_PORT="0", EMOSTREAM_HTTP__CLASSIFIER_PORT="0", EMOSTREAM_HTTP__AGGREGATOR_PORT="0")
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "emostream", "run"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=280
    )
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    event_lines = [line for line in proc.stdout.splitlines() if " face #" in line and "demo" in line]
    assert event_lines, f"no live event lines in the output:\n{proc.stdout[-2000:]}"
    assert "Session demo-" in proc.stdout
    assert proc.stdout.count("docs/responsible-use.md") == 1, "run points to the responsible-use page once"
    [summary_file] = (tmp_path / "sessions").glob("*.json")
    summary = json.loads(summary_file.read_text())
    assert summary["faces"] > 0 and summary["end_reason"] == "eof"
    assert len(event_lines) == summary["faces"], "the live view shows every event once"
    print(f"emostream run finished in {elapsed:.1f} s with {summary['faces']} faces")


def test_a_worker_without_redis_fails_fast_with_a_clear_message(tmp_path: Path) -> None:
    config_file = tmp_path / "c.yaml"
    redis_section = {"url": f"redis://127.0.0.1:{free_port()}/0", "connect_timeout_s": 1, "startup_wait_s": 2}
    config_file.write_text(yaml.safe_dump({"redis": redis_section}))
    proc = subprocess.run(
        [sys.executable, "-m", "emostream", "--config", str(config_file), "aggregate"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    assert "cannot reach Redis at redis://127.0.0.1" in proc.stderr, proc.stderr[-2000:]
    # It waited the configured time for Redis to come up, and says so.
    assert "waiting for Redis" in proc.stderr and "gave up after waiting" in proc.stderr, proc.stderr[-2000:]


def test_validate_config_names_the_bad_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("detector:\n  backend: yolo\n  colour: red\n")
    proc = subprocess.run([sys.executable, "-m", "emostream", "validate-config", str(bad), "--ignore-env"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "detector.backend" in proc.stderr and "detector.colour: unknown key" in proc.stderr, proc.stderr
    good = tmp_path / "good.yaml"
    good.write_text("sources:\n  - {id: cam1, url: rtsp://127.0.0.1:8554/cam}\n")
    ok = subprocess.run([sys.executable, "-m", "emostream", "validate-config", str(good), "--ignore-env"], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and "valid (1 source(s), 1 live" in ok.stdout, ok.stdout + ok.stderr


def test_a_second_run_on_a_shared_redis_reports_only_its_own_session(redis_server: RedisServer, prefix: str, tmp_path: Path) -> None:
    """With a configured Redis, earlier runs' streams are still there: `run` must wait for, show and print only its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMOSTREAM_")}
    env.update(
        EMOSTREAM_REDIS__URL=redis_server.url, EMOSTREAM_REDIS__PREFIX=prefix,
        EMOSTREAM_HTTP__INGEST_PORT="0", EMOSTREAM_HTTP__CLASSIFIER_PORT="0", EMOSTREAM_HTTP__AGGREGATOR_PORT="0",
    )
    outputs = []
    for _ in range(2):
        proc = subprocess.run([sys.executable, "-m", "emostream", "run"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=280)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        outputs.append(proc.stdout)
    second = outputs[1]
    assert second.count("Session demo-") == 1, f"the second run printed other runs' summaries:\n{second[-3000:]}"
    event_lines = [line for line in second.splitlines() if " face #" in line and line.startswith("demo")]
    summary = json.loads(sorted((tmp_path / "sessions").glob("*.json"), key=lambda p: p.stat().st_mtime)[-1].read_text())
    assert len(event_lines) == summary["faces"], "the live view of the second run shows its own events only"
