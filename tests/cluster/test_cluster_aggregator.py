"""The aggregator on a Redis Cluster of three masters: counting, closing sessions exactly once, the sessions API.

Events and lifecycle messages are published straight to the cluster, as ingest
and the classifiers would; the aggregator runs in this process, step by step.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import redis
import yaml
from redis.crc import key_slot

from emostream.aggregator.session_close import ClusterClose
from emostream.aggregator.worker import AggregatorWorker
from emostream.cli import main
from emostream.config import Config, parse_config
from emostream.streams.keys import AGGREGATOR_GROUP, Keys, SessionPart
from tests.aggregator.support import end, event, publish, start, step, stepped
from tests.helpers import wait_for
from tests.support.cluster import RedisClusterServer

SOURCES = ("cam-a", "cam-b", "cam-c", "cam-d")
LABELS = ("happy", "sad", "neutral")


@pytest.fixture
def cluster_config(redis_cluster: RedisClusterServer, prefix: str, tmp_path: Path) -> Config:
    return parse_config(
        {
            "redis": {"url": redis_cluster.url, "prefix": prefix, "cluster": True},
            "http": {"ingest_port": 0, "classifier_port": 0, "aggregator_port": 0},
            "aggregator": {"summary_dir": str(tmp_path / "sessions"), "end_grace_s": 30, "reorder_ms": 0},
        },
        "test",
    )


@pytest.fixture
def worker(cluster_config: Config) -> Iterator[AggregatorWorker]:
    worker = stepped(cluster_config, consumer="agg-c1")
    yield worker
    if worker.http is not None:
        worker.http.stop()


def publish_sessions(cclient: redis.RedisCluster, keys: Keys, frames: int) -> dict[str, int]:
    """A session per source, two tracks, labels by frame; each source's last frame is published twice. The faces per session."""
    faces = {}
    for source in SOURCES:
        session = f"{source}-s1"
        start(cclient, keys, session, source=source)
        events = [event(session, seq, track, LABELS[(seq + track) % 3], source=source) for seq in range(frames) for track in (1, 2)]
        publish(cclient, keys, [*events, events[-1]])
        end(cclient, keys, session, faces=len(events), frames=frames, source=source)
        faces[session] = len(events)
    return faces


def summaries(cclient: redis.RedisCluster, keys: Keys) -> list[dict[str, Any]]:
    return [json.loads(fields[b"data"]) for _, fields in cclient.xrange(keys.sessions)]


def run_until_summarised(worker: AggregatorWorker, cclient: redis.RedisCluster, n: int) -> list[dict[str, Any]]:
    def done() -> list[dict[str, Any]] | None:
        step(worker)
        got = summaries(cclient, worker.keys)
        return got if len(got) >= n else None

    found: list[dict[str, Any]] = wait_for(done, 60, f"{n} sessions should be summarised", interval=0.0)
    return found


def test_one_aggregator_counts_several_sources_and_summarises_each_session_once(
    worker: AggregatorWorker, cclient: redis.RedisCluster
) -> None:
    # Given four sources whose sessions and keys lie on different masters
    keys = worker.keys
    faces = publish_sessions(cclient, keys, frames=40)
    assert len({key_slot(keys.agg(s, SessionPart.STATE).encode()) for s in faces}) == len(faces)
    # When one aggregator on the cluster runs until every session is summarised
    found = run_until_summarised(worker, cclient, len(SOURCES))
    step(worker, 3)
    # Then each session is summarised once, with the faces counted once (the duplicate dropped)
    found = summaries(cclient, keys)
    assert sorted(s["session"] for s in found) == sorted(faces), "one summary per session"
    assert {s["session"]: s["faces"] for s in found} == faces
    for summary in found:
        expected = Counter(LABELS[(seq + track) % 3] for seq in range(40) for track in (1, 2))
        assert {k: v for k, v in summary["emotions"]["counts"].items() if v} == dict(expected), summary["session"]
    # ... and its metrics count the same, every event is acknowledged, nothing dead-lettered
    registry = worker.registry
    for source in SOURCES:
        counted = sum(registry.get_sample_value("emostream_aggregator_events_total", {"source": source, "emotion": e}) or 0 for e in LABELS)
        assert counted == 80, f"{source}: events_total {counted}"
        assert registry.get_sample_value("emostream_aggregator_duplicate_events_total", {"source": source}) == 1
        assert cclient.xpending(keys.events(source), AGGREGATOR_GROUP)["pending"] == 0
    assert not cclient.exists(keys.deadletter)
    ended = sum(registry.get_sample_value("emostream_aggregator_sessions_ended_total", {"source": s, "reason": "eof"}) or 0 for s in SOURCES)
    assert ended == len(SOURCES)
    assert not cclient.smembers(keys.open_sessions), "every session left the open list"


def test_sessions_api_and_cli_list_the_summaries_on_the_cluster(
    worker: AggregatorWorker, cclient: redis.RedisCluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given summarised sessions on the cluster, and one still open
    keys = worker.keys
    faces = publish_sessions(cclient, keys, frames=10)
    run_until_summarised(worker, cclient, len(SOURCES))
    start(cclient, keys, "cam-e-open", source="cam-e")
    publish(cclient, keys, [event("cam-e-open", seq, 1, "sad", source="cam-e") for seq in range(5)])
    step(worker, 3)
    # When the HTTP API (its own cluster client, its pool sized per node) and `emostream sessions` are asked
    worker.start_http()
    assert worker.http is not None
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{worker.http.port}/sessions", timeout=10) as response:
        listed = json.loads(response.read())["sessions"]
    # Then both list every ended summary (read from many slots) and the open session
    assert {s["session"]: s["faces"] for s in listed if s["state"] == "ended"} == faces
    assert [(s["session"], s["faces"]) for s in listed if s["state"] == "open"] == [("cam-e-open", 5)]
    config_file = tmp_path / "emostream.yaml"
    config_file.write_text(yaml.safe_dump(worker.config.model_dump(mode="json")))
    assert main(["--config", str(config_file), "sessions", "list", "--ended", "--json"]) == 0
    assert sorted(r["session"] for r in json.loads(capsys.readouterr().out)) == sorted(faces)
    assert main(["--config", str(config_file), "sessions", "show", "cam-a-s1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["faces"] == faces["cam-a-s1"]


def test_a_close_interrupted_between_its_steps_is_finished_by_the_next_pass_and_published_once(
    worker: AggregatorWorker, cclient: redis.RedisCluster
) -> None:
    # Given a session whose faces are all counted
    keys = worker.keys
    start(cclient, keys, "cam-a-s9", source="cam-a")
    publish(cclient, keys, [event("cam-a-s9", seq, 1, "happy", source="cam-a") for seq in range(6)])
    end(cclient, keys, "cam-a-s9", faces=6, frames=6, source="cam-a")
    # When the closer is stopped right after flagging the session (its process died between the slots)
    with mock.patch.object(ClusterClose, "finish", side_effect=redis.ConnectionError("killed")), pytest.raises(redis.ConnectionError):
        for _ in range(50):
            step(worker)
    assert "summarised" in worker.store.state("cam-a-s9") and cclient.sismember(keys.open_sessions, "cam-a-s9")
    assert cclient.xlen(keys.sessions) == 0, "nothing published yet"
    # Then the next passes publish it, once, and count it once
    found = run_until_summarised(worker, cclient, 1)
    step(worker, 3)
    assert [s["faces"] for s in summaries(cclient, keys)] == [6] == [s["faces"] for s in found]
    assert not cclient.sismember(keys.open_sessions, "cam-a-s9")
    assert worker.registry.get_sample_value("emostream_aggregator_sessions_ended_total", {"source": "cam-a", "reason": "eof"}) == 1
    # ... and finishing it again (a second aggregator racing) publishes nothing more
    assert worker.store.finish_closed("cam-a-s9", 3600) is None
    assert cclient.xlen(keys.sessions) == 1


def test_a_close_from_a_stale_snapshot_is_refused_and_retried(worker: AggregatorWorker, cclient: redis.RedisCluster) -> None:
    # Given a session whose summary was built before its last face was counted
    keys = worker.keys
    start(cclient, keys, "cam-b-s9", source="cam-b")
    worker.resume()
    publish(cclient, keys, [event("cam-b-s9", seq, 1, "sad", source="cam-b") for seq in range(3)])
    step(worker, 3)
    stale = worker.store.snapshot("cam-b-s9")["state"]
    worker.store.count_events([event("cam-b-s9", 3, 1, "sad", source="cam-b")], worker.leases.owned)
    # When it is closed with the stale counts, then with fresh ones
    assert not worker.store.close_session("cam-b-s9", {"session": "cam-b-s9"}, 3600, 1.0, stale)
    assert "summarised" not in worker.store.state("cam-b-s9") and cclient.xlen(keys.sessions) == 0
    end(cclient, keys, "cam-b-s9", faces=4, frames=4, source="cam-b")
    # Then the aggregator's own pass publishes the summary with every face
    assert [s["faces"] for s in run_until_summarised(worker, cclient, 1)] == [4]


def test_scripts_run_on_masters_that_never_saw_them(worker: AggregatorWorker, cclient: redis.RedisCluster) -> None:
    # Given every master's script cache emptied (a restart, or a replica promoted by a failover)
    keys = worker.keys
    start(cclient, keys, "cam-c-s9", source="cam-c")
    step(worker, 2)
    cclient.script_flush()
    # When events are counted and a track is written (scripts in pipelines) and the session closes
    publish(cclient, keys, [event("cam-c-s9", seq, 1, "neutral", source="cam-c") for seq in range(5)])
    end(cclient, keys, "cam-c-s9", faces=5, frames=5, source="cam-c")
    found = run_until_summarised(worker, cclient, 1)
    # Then everything was counted once
    assert found[0]["faces"] == 5 and found[0]["tracks"] == 1
