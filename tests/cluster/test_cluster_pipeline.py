"""End to end on the Redis Cluster: the real worker processes, the demo clip as three sources, faces in six shards."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from emostream.streams.keys import Keys
from emostream.streams.lifecycle import decode_lifecycle
from tests.conftest import free_port
from tests.e2e.test_pipeline import metric_sum, scrape, spawn
from tests.helpers import stop_roles, wait_for
from tests.support.cluster import RedisClusterServer

pytestmark = pytest.mark.slow

SOURCES = ("cam-a", "cam-b", "cam-c")


def write_config(path: Path, url: str, prefix: str, clip: Path, ports: dict[str, int], summaries: Path) -> Path:
    config = {
        "redis": {"url": url, "prefix": prefix, "cluster": True, "faces_shards": 6},
        "sources": [{"id": source, "url": str(clip)} for source in SOURCES],
        "http": {f"{role}_port": port for role, port in ports.items()},
        "aggregator": {"summary_dir": str(summaries)},
        "classifier": {"batch_max": 32, "batch_wait_ms": 20},
        "ingest": {"exit_at_end": False},  # keep ingest's /metrics up for the scrape
    }
    path.write_text(yaml.safe_dump(config))
    return path


def stop_all(procs: dict[str, subprocess.Popen[bytes]]) -> dict[str, int | str]:
    return stop_roles(procs)


def ended(client: redis.RedisCluster, keys: Keys) -> dict[str, Any]:
    return {m.source: m for m in (decode_lifecycle(f) for _, f in client.xrange(keys.lifecycle)) if m.kind == "end"}


def check_events(client: redis.RedisCluster, keys: Keys) -> dict[str, list[dict[str, Any]]]:
    """Every face of every source is exactly one event; the shards are empty. The events by source."""
    ends = ended(client, keys)
    assert sorted(ends) == sorted(SOURCES), ends
    out = {}
    for source in SOURCES:
        events = [json.loads(f[b"data"]) for _, f in client.xrange(keys.events(source))]
        ids = [e["event_id"] for e in events]
        assert len(ids) == len(set(ids)), f"{source}: an event was published twice"
        assert len(events) == ends[source].faces > 0, f"{source}: {ends[source].faces} faces published, {len(events)} events"
        out[source] = events
    assert all(client.xlen(shard) == 0 for shard in keys.face_shards(6)), "faces left in a shard"
    assert len({keys.face_shard(source, 6) for source in SOURCES}) > 1, "the sources should not all share one shard"
    return out


@pytest.mark.timeout(400)
def test_every_face_of_three_sources_is_one_event_through_six_shards(
    redis_cluster: RedisClusterServer, cclient: redis.RedisCluster, prefix: str, tmp_path: Path, demo_clip: Path
) -> None:
    # Given ingest and a classifier on the cluster, the clip as three sources, the faces queue in six shards
    ports = {"aggregator": free_port(), "classifier": free_port(), "ingest": free_port()}
    config_file = write_config(tmp_path / "emostream.yaml", redis_cluster.url, prefix, demo_clip, ports, tmp_path / "sessions")
    keys = Keys(prefix)
    procs = {role: spawn(role, config_file, tmp_path / f"{role}.log") for role in ("classify", "ingest")}
    try:
        # When every source has ended and the classifier has drained the shards
        def drained() -> bool:
            ends = ended(cclient, keys)
            return len(ends) == len(SOURCES) and sum(cclient.xlen(keys.events(s)) for s in SOURCES) >= sum(e.faces for e in ends.values())

        wait_for(drained, 300, "the events did not catch up with the faces")
        codes = stop_all(procs)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
    logs = {role: (tmp_path / f"{role}.log").read_text() for role in procs}
    assert codes == {"classify": 0, "ingest": 0}, logs
    # Then each face is one event
    check_events(cclient, keys)


@pytest.mark.timeout(400)
def test_every_face_of_three_sources_is_counted_once_in_the_summaries_on_the_cluster(
    redis_cluster: RedisClusterServer, cclient: redis.RedisCluster, prefix: str, tmp_path: Path, demo_clip: Path
) -> None:
    # Given the three roles on the cluster, the clip as three sources, the faces queue in six shards
    ports = {"aggregator": free_port(), "classifier": free_port(), "ingest": free_port()}
    config_file = write_config(tmp_path / "emostream.yaml", redis_cluster.url, prefix, demo_clip, ports, tmp_path / "sessions")
    keys = Keys(prefix)
    procs = {role: spawn(role, config_file, tmp_path / f"{role}.log") for role in ("aggregate", "classify", "ingest")}
    try:
        # When every source's session is summarised
        def all_summaries() -> list[Any]:
            if procs["aggregate"].poll() is not None:
                raise AssertionError((tmp_path / "aggregate.log").read_text()[-3000:])
            raw = cclient.xrange(keys.sessions)
            return raw if len(raw) >= len(SOURCES) else []

        raw = wait_for(all_summaries, 300, "not every session summary was published")
        summaries = {s["source"]: s for s in (json.loads(f[b"data"]) for _, f in raw)}
        aggregator_metrics = scrape(ports["aggregator"])
        codes = stop_all(procs)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
    logs = {role: (tmp_path / f"{role}.log").read_text() for role in procs}
    assert codes == {"aggregate": 0, "classify": 0, "ingest": 0}, logs
    # Then every face is one event, and the summaries and /metrics count the same
    for source, events in check_events(cclient, keys).items():
        summary = summaries[source]
        assert summary["faces"] == len(events), f"{source}: the summary counts {summary['faces']}, the stream has {len(events)}"
        by_emotion = Counter(e["emotion"]["label"] for e in events)
        assert {k: v for k, v in summary["emotions"]["counts"].items() if v} == dict(by_emotion)
        for emotion, count in by_emotion.items():
            assert metric_sum(aggregator_metrics, "emostream_aggregator_events_total", source=source, emotion=emotion) == count
