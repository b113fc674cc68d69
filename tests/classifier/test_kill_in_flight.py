"""A replica killed with batches in every stage (taken, in the model, being committed) loses and doubles nothing.

The replica is a real process (``tests.classifier.slow_replica``: the real
worker with a model and a commit slowed down, so that each stage holds a batch
most of the time) on the test's real Redis. It is SIGKILLed three times while
it holds several batches, at different moments of a commit, and restarted
under the same consumer name each time; a restarted replica claims what its
predecessor held once that has been idle for ``claim_idle_ms``.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import redis

from emostream.streams.keys import CLASSIFIER_GROUP, Keys
from tests.classifier.procs import Procs
from tests.helpers import face_job

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

BATCH = 8
CLAIM_IDLE_MS = 1000
FACES = 480
SLOW = ("--model-s", "0.1", "--commit-s", "0.1")


def held(client: redis.Redis, keys: Keys, consumer: str) -> int:
    for info in client.xinfo_consumers(keys.faces, CLASSIFIER_GROUP):
        name = info["name"].decode() if isinstance(info["name"], bytes) else info["name"]
        if name == consumer:
            return int(info["pending"])
    return 0


def event_ids(client: redis.Redis, keys: Keys, sources: list[str]) -> list[str]:
    entries: Any = [entry for source in sources for entry in client.xrange(keys.events(source))]
    return [json.loads(fields[b"data"])["event_id"] for _, fields in entries]


def test_every_face_gets_exactly_one_event_when_a_replica_is_killed_with_batches_in_each_stage(
    make_config: Any, procs: Procs, rclient: redis.Redis
) -> None:
    # Given a queue of faces from two sources and a replica that reads, classifies and commits them in overlapping stages
    config = make_config(
        classifier={"batch_max": BATCH, "batch_wait_ms": 5, "claim_idle_ms": CLAIM_IDLE_MS, "max_deliveries": 20}
    )
    keys = Keys(config.redis.prefix)
    sources = ["cam1", "cam2"]
    jobs = [face_job(source=s, session=f"{s}-s1", seq=seq, track=track, size=48) for seq in range(FACES // 4) for s in sources for track in (1, 2)]
    pipe = rclient.pipeline()
    for job in jobs:
        pipe.xadd(keys.faces, job.encode())  # type: ignore[arg-type]
    pipe.execute()

    # When it is killed three times while it holds at least four batches (the take, model and commit stages
    # and the hand-overs between them), each time a little later into a commit, and restarted,
    for kill, extra_s in enumerate((0.0, 0.05, 0.13)):
        procs.start("replica", config, "--consumer", "r1", *SLOW, module="tests.classifier.slow_replica")
        procs.killed.discard("replica")
        before = len(event_ids(rclient, keys, sources))
        procs.wait_for(
            lambda before=before: len(event_ids(rclient, keys, sources)) >= before + BATCH and held(rclient, keys, "r1") >= 4 * BATCH,
            60,
            f"kill {kill}: the replica commits while holding four batches",
        )
        time.sleep(extra_s)
        in_flight = held(rclient, keys, "r1")
        procs.kill("replica")
        assert in_flight >= 3 * BATCH, f"kill {kill}: only {in_flight} faces were in flight"
        assert len(event_ids(rclient, keys, sources)) < len(jobs), "the faces ran out before the kill: make the queue longer"

    # and it runs to the end after the last restart,
    procs.start("replica", config, "--consumer", "r1", *SLOW, module="tests.classifier.slow_replica")
    procs.killed.discard("replica")
    procs.wait_for(lambda: len(event_ids(rclient, keys, sources)) >= len(jobs), 120, f"all {len(jobs)} faces have events")
    time.sleep(CLAIM_IDLE_MS / 1000 + 1.0)  # a face classified twice would show up by now

    # then every face has exactly one event, nothing is pending, queued or dead-lettered.
    ids = event_ids(rclient, keys, sources)
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    missing = sorted({job.event_id for job in jobs} - set(ids))
    assert not duplicates and not missing, f"{len(duplicates)} faces got two events ({duplicates[:5]}), {len(missing)} none ({missing[:5]})"
    assert len(ids) == len(jobs)
    assert rclient.xpending(keys.faces, CLASSIFIER_GROUP)["pending"] == 0, "every face must be acknowledged"
    assert rclient.xlen(keys.faces) == 0, "every face must be deleted from the queue"
    assert rclient.xlen(keys.deadletter) == 0, "no face should be dead-lettered"
