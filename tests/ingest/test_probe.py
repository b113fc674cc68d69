"""The queue probe against a real Redis: backlog, and the age of the oldest undelivered face from its entry id."""

from __future__ import annotations

import json
import time
from typing import Any

import redis
from prometheus_client import CollectorRegistry

from emostream.infra.metrics import IngestMetrics
from emostream.ingest.probe import QueueReading, RedisQueueProbe, combine, read_queue, service_ms
from emostream.streams.group_commands import ensure_group
from emostream.streams.keys import CLASSIFIER_GROUP, Keys


def test_the_age_is_that_of_the_oldest_undelivered_face_once_a_classifier_has_joined(rclient: redis.Redis, prefix: str) -> None:
    faces = Keys(prefix).faces
    ensure_group(rclient, faces, CLASSIFIER_GROUP)
    ms = int(rclient.time()[0] * 1000)
    for offset in (3_000, 2_000, 1_000):  # enqueued 3, 2 and 1 s ago
        rclient.xadd(faces, {"v": "1"}, id=f"{ms - offset}-0")
    # Before any classifier joined: only the size counts.
    assert read_queue(rclient, faces, CLASSIFIER_GROUP, Keys(prefix).classifier_stats).oldest_age_ms == 0.0
    # A classifier takes the oldest face; the oldest one still waiting is 2 s old.
    rclient.xreadgroup(CLASSIFIER_GROUP, "c1", {faces: ">"}, count=1)
    state = read_queue(rclient, faces, CLASSIFIER_GROUP, Keys(prefix).classifier_stats)
    latest = time.time() * 1000.0 - (ms - 2_000)  # the age it can have had at most, however slow this machine is
    assert state.backlog == 3 and state.waiting == 2, state
    assert 1_950 <= state.oldest_age_ms <= latest + 5, (state, latest)
    rclient.xreadgroup(CLASSIFIER_GROUP, "c1", {faces: ">"}, count=10)
    assert read_queue(rclient, faces, CLASSIFIER_GROUP, Keys(prefix).classifier_stats).oldest_age_ms == 0.0, "faces in a classifier's hands do not count"


def test_no_stream_yet_is_an_empty_queue(rclient: redis.Redis, prefix: str) -> None:
    state = read_queue(rclient, Keys(prefix).faces, CLASSIFIER_GROUP, Keys(prefix).classifier_stats)
    assert (state.backlog, state.oldest_age_ms) == (0, 0.0)


def test_the_probe_predicts_the_wait_from_the_drain_rate_and_the_faces_it_queued_itself(rclient: redis.Redis, prefix: str) -> None:
    # Given a group whose classifier took 4 faces in the last second and leaves 2 waiting,
    keys = Keys(prefix)
    ensure_group(rclient, keys.faces, CLASSIFIER_GROUP)
    for _ in range(10):
        rclient.xadd(keys.faces, {"v": "1"})
    now = [100.0]
    probe = RedisQueueProbe(rclient, keys, IngestMetrics(CollectorRegistry()), period_s=0.1, clock=lambda: now[0])
    rclient.xreadgroup(CLASSIFIER_GROUP, "c1", {keys.faces: ">"}, count=4)
    first = probe.state()
    assert first.drain_per_s == 0.0, "one reading gives no rate yet"
    rclient.xreadgroup(CLASSIFIER_GROUP, "c1", {keys.faces: ">"}, count=4)
    now[0] += 1.0
    state = probe.state()
    assert state.waiting == 2 and abs(state.drain_per_s - 4.0) < 1e-9, state
    # when this worker queues 3 more faces before the next reading,
    probe.queued(3)
    state = probe.state()
    # then a new face would wait for 5 faces at 4 faces/s: 1.25 s.
    assert state.waiting == 5 and state.backlog == 13, state
    assert abs(state.wait_ms - 1250.0) < 1e-6 or state.oldest_age_ms > 1250.0, state


def test_the_slowest_recent_forward_pass_counts_and_stopped_or_malformed_replicas_do_not() -> None:
    now = 1_800_000_000.0
    advertised = {
        b"a": json.dumps({"inference_ms": 40.0, "at": now - 1}),
        b"b": json.dumps({"inference_ms": 120.0, "at": now - 2}),
        b"gone": json.dumps({"inference_ms": 900.0, "at": now - 60}),  # stopped a minute ago
        b"bad": b"not json",
    }
    assert service_ms(advertised, now) == 120.0
    assert service_ms({}, now) == 0.0


def test_shards_are_seen_as_one_queue() -> None:
    # Given readings of three faces shards (redis.faces_shards), one on a Redis without entries-read
    a = QueueReading(backlog=10, waiting=4, oldest_age_ms=120.0, delivered=100, joined=True, service_ms=30.0)
    b = QueueReading(backlog=5, waiting=5, oldest_age_ms=900.0, delivered=50, joined=False, service_ms=45.0)
    c = QueueReading(backlog=0, waiting=0, oldest_age_ms=0.0, delivered=None, joined=False, service_ms=0.0)
    # Then sizes add up, the oldest face and the slowest pass count, and an unknown counter makes the sum unknown
    assert combine([a, b]) == QueueReading(15, 9, 900.0, 150, True, 45.0)
    assert combine([a, b, c]).delivered is None
    assert combine([a]) is a


def test_the_probe_reads_every_shard(rclient: redis.Redis, prefix: str) -> None:
    keys = Keys(prefix)
    shards = keys.face_shards(3)
    for n, shard in enumerate(shards):
        ensure_group(rclient, shard, CLASSIFIER_GROUP)
        for _ in range(n + 1):
            rclient.xadd(shard, {"f": "x"})
    probe = RedisQueueProbe(rclient, keys, IngestMetrics(CollectorRegistry()), shards=3)
    assert probe.state().backlog == 1 + 2 + 3, "the backlog is the sum over the shards"


def test_with_shards_the_classifiers_stats_are_read_once_per_probe(rclient: redis.Redis, prefix: str) -> None:
    # Given three shards and a classifier that advertised a 40 ms forward pass,
    keys = Keys(prefix)
    for shard in keys.face_shards(3):
        ensure_group(rclient, shard, CLASSIFIER_GROUP)
    rclient.hset(keys.classifier_stats, "c1", json.dumps({"at": time.time(), "inference_ms": 40.0}))
    probe = RedisQueueProbe(rclient, keys, IngestMetrics(CollectorRegistry()), shards=3)
    before = _calls(rclient, "hgetall")
    # when the probe reads the queue,
    state = probe.state()
    # then the slowest pass is known, and the stats hash was read once, not once per shard.
    assert state.service_ms == 40.0
    assert _calls(rclient, "hgetall") - before == 1


def _calls(client: redis.Redis, command: str) -> int:
    stats: Any = client.info("commandstats")
    return int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))


def test_while_one_source_reads_redis_the_others_go_on_with_the_last_reading(rclient: redis.Redis, prefix: str) -> None:
    import threading

    faces = Keys(prefix).faces
    ensure_group(rclient, faces, CLASSIFIER_GROUP)
    for _ in range(5):
        rclient.xadd(faces, {"v": "1"})
    probe = RedisQueueProbe(rclient, Keys(prefix), IngestMetrics(CollectorRegistry()), period_s=0.05)
    assert probe.state().backlog == 5
    probe.queued(2)
    # Given Redis that answers nobody for half a second, and one source whose reading is due,
    time.sleep(0.06)
    admin = redis.Redis(connection_pool=redis.ConnectionPool(**rclient.connection_pool.connection_kwargs))
    admin.execute_command("CLIENT", "PAUSE", "500", "ALL")
    reader = threading.Thread(target=probe.state)
    reader.start()
    time.sleep(0.05)  # the reader is waiting for Redis now
    # when another source asks, it gets the last reading with its own faces on top at once, not after the pause,
    began = time.monotonic()
    state = probe.state()
    waited = time.monotonic() - began
    reader.join(5)
    assert state.backlog == 7 and waited < 0.25, f"backlog {state.backlog}, waited {waited:.3f} s for another source's read"
    # and once the read is in, the faces this worker queued before it began are in Redis's count, not counted twice.
    assert probe.state().backlog == 5
