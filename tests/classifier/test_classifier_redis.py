"""The classifier against a real Redis: batches, events, acknowledgements, dead letters."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from emostream.classifier.worker import ClassifierWorker
from emostream.streams.group_commands import backlog
from emostream.streams.keys import CLASSIFIER_GROUP, Keys
from emostream.streams.schema import event_errors
from tests.helpers import face_job


@pytest.fixture
def worker(make_config: Any) -> Iterator[ClassifierWorker]:
    config = make_config(classifier={"model": "mini-xception", "batch_max": 8, "batch_wait_ms": 10, "claim_idle_ms": 200})
    w = ClassifierWorker(config, consumer="c1")
    yield w
    w.runtime.close()


def drain(worker: ClassifierWorker, rclient: redis.Redis, rounds: int = 20) -> None:
    keys = worker.keys
    for _ in range(rounds):
        worker.step()
        if backlog(rclient, keys.faces, CLASSIFIER_GROUP) == 0:
            return


def test_each_face_gets_one_valid_event_and_is_acknowledged(worker: ClassifierWorker, rclient: redis.Redis) -> None:
    keys: Keys = worker.keys
    jobs = [face_job(seq=seq, track=track) for seq in range(6) for track in (1, 2)]
    for job in jobs:
        rclient.xadd(keys.faces, job.encode())
    drain(worker, rclient)
    entries = rclient.xrange(keys.events("cam1"))
    events = [json.loads(fields[b"data"]) for _, fields in entries]
    assert sorted(e["event_id"] for e in events) == sorted(j.event_id for j in jobs), "one event per face, no more, no less"
    for event in events:
        assert event_errors(event) == [], event_errors(event)
    assert rclient.xpending(keys.faces, CLASSIFIER_GROUP)["pending"] == 0, "every face must be acknowledged"
    assert rclient.xlen(keys.faces) == 0, "classified faces (their crops) must be deleted from the work queue"
    batch_count = worker.registry.get_sample_value("emostream_classifier_batch_size_count")
    assert batch_count <= 3, f"12 faces with batch_max 8 should take at most 3 forward passes, took {batch_count}"


def test_malformed_and_wrong_size_entries_go_to_the_dead_letter_stream(worker: ClassifierWorker, rclient: redis.Redis) -> None:
    keys = worker.keys
    rclient.xadd(keys.faces, {"v": "1", "data": "not json"})
    rclient.xadd(keys.faces, {"something": "else"})
    rclient.xadd(keys.faces, face_job(seq=1, size=48).encode())  # model wants 64x64
    rclient.xadd(keys.faces, face_job(seq=2).encode())
    drain(worker, rclient)
    dead = rclient.xrange(keys.deadletter)
    reasons = [fields[b"reason"].decode() for _, fields in dead]
    assert len(dead) == 3, reasons
    assert any("not JSON" in r for r in reasons) and any("schema version" in r for r in reasons)
    assert any("does not match the model input" in r for r in reasons)
    assert b"orig:crop" not in dead[2][1], "dead letters keep no face pixels unless deadletter_pixels is set"
    assert dead[2][1][b"orig:crop_bytes"] == str(48 * 48).encode() and b"orig:data" in dead[2][1]
    assert len(rclient.xrange(keys.events("cam1"))) == 1, "the good face is still classified"
    assert worker.registry.get_sample_value("emostream_classifier_deadletters_total", {"reason": "malformed"}) == 3
    assert rclient.xpending(keys.faces, CLASSIFIER_GROUP)["pending"] == 0


def test_entries_pending_at_a_dead_replica_are_claimed(worker: ClassifierWorker, rclient: redis.Redis) -> None:
    keys = worker.keys
    for seq in range(3):
        rclient.xadd(keys.faces, face_job(seq=seq).encode())
    # A replica "c0" reads the faces and dies without acknowledging them.
    rclient.xreadgroup(CLASSIFIER_GROUP, "c0", {keys.faces: ">"}, count=10)
    import time

    time.sleep(0.3)  # past claim_idle_ms
    drain(worker, rclient)
    assert len(rclient.xrange(keys.events("cam1"))) == 3
    assert worker.registry.get_sample_value("emostream_classifier_claimed_total") == 3


def test_an_entry_delivered_too_often_is_dead_lettered(make_config: Any, rclient: redis.Redis) -> None:
    config = make_config(classifier={"model": "mini-xception", "batch_max": 4, "claim_idle_ms": 100, "max_deliveries": 2})
    worker = ClassifierWorker(config, consumer="c1")
    keys = worker.keys
    rclient.xadd(keys.faces, face_job(seq=0).encode())
    import time

    for consumer in ("a", "b", "c"):  # three replicas took it and died
        if consumer == "a":
            rclient.xreadgroup(CLASSIFIER_GROUP, consumer, {keys.faces: ">"}, count=1)
        else:
            time.sleep(0.15)
            rclient.xautoclaim(keys.faces, CLASSIFIER_GROUP, consumer, min_idle_time=100, start_id="0-0")
    time.sleep(0.15)
    worker.step()
    dead = rclient.xrange(keys.deadletter)
    assert len(dead) == 1 and b"delivered" in dead[0][1][b"reason"], dead
    assert rclient.xrange(keys.events("cam1")) == []


def test_a_short_batch_wait_is_kept_against_a_real_redis(worker: ClassifierWorker, rclient: redis.Redis) -> None:
    # Given one face and batch_wait_ms 10: Redis would end a BLOCK 10 only on its
    # hz timer (~100 ms); the batch must come back after about 10 ms instead.
    import time

    from emostream.classifier.batching import collect_batch

    rclient.xadd(worker.keys.faces, face_job(seq=0).encode())
    began = time.monotonic()
    batch = collect_batch(worker.read, batch_max=8, batch_wait_ms=10, idle_block_ms=250)
    elapsed_ms = (time.monotonic() - began) * 1000
    assert len(batch) == 1
    assert elapsed_ms < 60, f"a 10 ms batch wait took {elapsed_ms:.0f} ms"


def test_dead_letters_keep_the_crop_only_when_asked(make_config: Any, rclient: redis.Redis) -> None:
    config = make_config(classifier={"model": "mini-xception", "batch_max": 4, "deadletter_pixels": True})
    worker = ClassifierWorker(config, consumer="c1")
    job = face_job(seq=1, size=48)  # the model wants 64x64: dead-lettered
    rclient.xadd(worker.keys.faces, job.encode())
    drain(worker, rclient)
    [(_, fields)] = rclient.xrange(worker.keys.deadletter)
    assert fields[b"orig:crop"] == job.crop.tobytes()
