"""A replica reading a faces queue split into several streams (shards): every shard gets its turn."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis
from prometheus_client import CollectorRegistry

from emostream.classifier.worker import ClassifierWorker
from emostream.infra.modelcard import load_card
from emostream.streams.keys import CLASSIFIER_GROUP, Keys
from tests.classifier.slow_replica import SleepyRuntime
from tests.helpers import face_job


def test_a_small_shard_is_not_starved_by_a_busy_one(make_config: Any, rclient: redis.Redis, prefix: str) -> None:
    # Given two shards, one with a long backlog from cam1 and one with two faces from cam2
    config = make_config(classifier={"batch_max": 4, "batch_wait_ms": 0})
    shards = [f"{prefix}:faces:0", f"{prefix}:faces:1"]
    runtime = SleepyRuntime(load_card(None), 4, 0.0)
    worker = ClassifierWorker(config, CollectorRegistry(), http_port=-1, consumer="c1", runtime=runtime, face_streams=shards)
    for seq in range(20):
        rclient.xadd(shards[0], face_job(source="cam1", session="cam1-s", seq=seq, size=48).encode())  # type: ignore[arg-type]
    for seq in range(2):
        rclient.xadd(shards[1], face_job(source="cam2", session="cam2-s", seq=seq, size=48).encode())  # type: ignore[arg-type]
    # When the replica takes its first batch
    worker.step()
    # Then the batch shared its room between the shards: cam2 did not wait behind cam1's backlog
    assert rclient.xlen(worker.keys.events("cam2")) == 2, "the small shard's faces must be in the first batch"
    assert rclient.xlen(worker.keys.events("cam1")) == 2
    # and the rest drains from both, each face once, nothing left pending.
    for _ in range(20):
        worker.step()
    cam1: Any = rclient.xrange(worker.keys.events("cam1"))
    assert sorted(json.loads(f[b"data"])["frame"]["seq"] for _, f in cam1) == list(range(20))
    for shard in shards:
        assert rclient.xlen(shard) == 0 and rclient.xpending(shard, CLASSIFIER_GROUP)["pending"] == 0


def test_a_replica_given_some_shards_serves_only_those(make_config: Any, rclient: redis.Redis, prefix: str) -> None:
    # Given the faces queue in three shards, a face on each, and a replica configured for shards 0 and 2
    config = make_config(redis={"faces_shards": 3}, classifier={"batch_max": 8, "batch_wait_ms": 0, "shards": [2, 0]})
    shards = Keys(prefix).face_shards(3)
    worker = ClassifierWorker(config, CollectorRegistry(), http_port=-1, consumer="c1", runtime=SleepyRuntime(load_card(None), 8, 0.0))
    for n, shard in enumerate(shards):
        rclient.xadd(shard, face_job(source=f"cam{n}", session=f"cam{n}-s", seq=0, size=48).encode())  # type: ignore[arg-type]
    # When it has taken what it can
    for _ in range(3):
        worker.step()
    # Then shards 0 and 2 were classified, and shard 1's face waits for a replica that serves it.
    assert worker.face_streams == [shards[0], shards[2]]
    assert [rclient.xlen(worker.keys.events(f"cam{n}")) for n in range(3)] == [1, 0, 1]
    assert rclient.xlen(shards[1]) == 1


def test_a_shard_that_does_not_exist_is_refused_with_the_count(make_config: Any) -> None:
    with pytest.raises(ValueError, match=r"classifier.shards \[3\] do not exist: redis.faces_shards is 3"):
        make_config(redis={"faces_shards": 3}, classifier={"shards": [0, 3]})
