"""The classifier's commit on the cluster (guarded Lua per source, the drop notices, then the acks): each event once."""

from __future__ import annotations

import json
import time
from typing import Any

import redis

from emostream.classifier.cluster_commit import ClusterCommit, guard_window_ms, make_commit
from emostream.classifier.commit import Classified, Committed, Dropped, ScriptCommit
from emostream.streams.group_commands import ensure_group
from emostream.streams.keys import CLASSIFIER_GROUP, Keys
from emostream.streams.lifecycle import FacesDropped, decode_lifecycle
from tests.support.cluster import RedisClusterServer

WINDOW_MS = 60_000


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def pending_faces(client: redis.Redis, shard: str, n: int) -> list[bytes]:
    """``n`` faces in ``shard``, delivered to one consumer and not acknowledged: a batch in a classifier's hands."""
    ensure_group(client, shard, CLASSIFIER_GROUP)
    for i in range(n):
        client.xadd(shard, {"n": str(i)})
    reply: Any = client.xreadgroup(CLASSIFIER_GROUP, "c1", {shard: ">"}, count=n)
    return [eid for eid, _ in reply[0][1]]


def batch(client: redis.Redis, keys: Keys, shard: str, sources: list[str], per_source: int, first: int = 0) -> list[Classified]:
    """Classified faces of ``sources`` (``per_source`` each, event numbers from ``first``), held pending in ``shard``."""
    ids = iter(pending_faces(client, shard, len(sources) * per_source))
    return [
        Classified(shard, next(ids), s, f"{s}-s1:{i}:1", json.dumps({"event_id": f"{s}-s1:{i}:1"}).encode())
        for s in sources
        for i in range(first, first + per_source)
    ]


def published(client: redis.Redis, stream: str) -> list[str]:
    return [json.loads(fields[b"data"])["event_id"] for _, fields in client.xrange(stream)]


def commit_on(client: redis.RedisCluster, keys: Keys, clock: Clock | None = None, chunk: int = 1024) -> ClusterCommit:
    return ClusterCommit(client, keys, CLASSIFIER_GROUP, events_maxlen=1000, window_ms=WINDOW_MS, clock=clock or time.time, chunk=chunk)


def test_the_factory_gives_one_redis_the_script_and_a_cluster_the_guarded_commit(
    rclient: redis.Redis, cclient: redis.RedisCluster, prefix: str
) -> None:
    keys = Keys(prefix)
    assert isinstance(make_commit(rclient, keys, CLASSIFIER_GROUP, 1000, 10_000, 3), ScriptCommit)
    chosen = make_commit(cclient, keys, CLASSIFIER_GROUP, 1000, 10_000, 3)
    assert isinstance(chosen, ClusterCommit) and chosen.window_ms == guard_window_ms(10_000, 3)


def test_a_cluster_commit_publishes_announces_and_acknowledges_across_slots(cclient: redis.RedisCluster, prefix: str) -> None:
    # Given three sources' faces in two shards, and two stale faces of one session
    keys = Keys(prefix)
    shards = keys.face_shards(6)[:2]
    classified = batch(cclient, keys, shards[0], ["a", "b"], 2) + batch(cclient, keys, shards[1], ["c"], 2)
    stale = pending_faces(cclient, shards[1], 2)
    dropped = [Dropped(shards[1], eid, "c", "c-s1", f"c-s1:{9 + n}:1") for n, eid in enumerate(stale)]
    # When they are committed
    done = commit_on(cclient, keys)(classified, dropped)
    # Then every event is out once with the envelope readers expect, one notice lists the dropped faces,
    # and the faces are acknowledged and deleted
    assert done == Committed(6, 2)
    assert [published(cclient, keys.events(s)) for s in "abc"] == [[f"{s}-s1:0:1", f"{s}-s1:1:1"] for s in "abc"]
    [(_, fields)] = cclient.xrange(keys.events("a"), count=1)
    assert set(fields) == {b"v", b"data"}, f"an event entry is the schema envelope: {fields}"
    [(_, notice)] = cclient.xrange(keys.lifecycle)
    assert decode_lifecycle(notice) == FacesDropped("c", "c-s1", "age", ("c-s1:9:1", "c-s1:10:1"))
    assert all(cclient.xlen(s) == 0 and cclient.xpending(s, CLASSIFIER_GROUP)["pending"] == 0 for s in shards)
    assert {cclient.keyslot(keys.events(s)) for s in "abc"} != {cclient.keyslot(shards[0])}, "the test must span slots"


def test_replaying_a_half_committed_batch_publishes_no_event_twice(cclient: redis.RedisCluster, prefix: str) -> None:
    # Given a classifier that published a batch's events and died before acknowledging its faces
    keys = Keys(prefix)
    shard = keys.face_shards(6)[3]
    classified = batch(cclient, keys, shard, ["a", "b"], 2)
    clock = Clock(time.time())
    commit = commit_on(cclient, keys, clock)
    assert commit.publish(classified, []) == 4
    # When another replica claims the faces and commits the same batch again, now across a bucket boundary
    clock.now += WINDOW_MS / 1000.0 - 0.001
    done = commit(classified, [])
    # Then no event is published a second time, the faces are finished, and counted once (by the replica that acknowledged them)
    assert published(cclient, keys.events("a")) == ["a-s1:0:1", "a-s1:1:1"], "an event was published twice"
    assert cclient.xlen(keys.events("b")) == 2
    assert done == Committed(4, 0)
    assert cclient.xlen(shard) == 0 and cclient.xpending(shard, CLASSIFIER_GROUP)["pending"] == 0
    # ... a commit of faces another one finished counts none
    assert commit(classified, []) == Committed(0, 0)
    # ... and a batch mixing old and new faces publishes only the new ones
    assert commit.publish(classified[:2] + batch(cclient, keys, shard, ["a"], 1, first=2), []) == 1
    assert cclient.xlen(keys.events("a")) == 3


def test_the_guard_forgets_ids_after_two_windows_and_expires(cclient: redis.RedisCluster, prefix: str) -> None:
    keys = Keys(prefix)
    clock = Clock(time.time())
    commit = commit_on(cclient, keys, clock)
    classified = batch(cclient, keys, keys.face_shards(6)[0], ["a"], 3)
    commit.publish(classified, [])
    bucket = int(clock.now * 1000) // WINDOW_MS
    guard = keys.published(keys.events("a"), bucket)
    assert cclient.scard(guard) == 3 and WINDOW_MS // 1000 < cclient.ttl(guard) <= 2 * WINDOW_MS // 1000 + 5, "a guard bucket must expire"
    # Two windows later the ids are no longer remembered (this is the documented bound of the guard)
    clock.now += 2 * WINDOW_MS / 1000.0
    assert commit.publish(classified, []) == 3


def test_the_guard_window_covers_every_redelivery() -> None:
    assert guard_window_ms(10_000, 3) == 60_000, "defaults: 2 × 10 s × 3"
    assert guard_window_ms(30_000, 5) == 300_000
    assert guard_window_ms(100, 1) == 60_000, "at least a minute"


def test_a_source_larger_than_a_chunk_goes_in_several_calls_each_event_once(cclient: redis.RedisCluster, prefix: str) -> None:
    keys = Keys(prefix)
    classified = batch(cclient, keys, keys.face_shards(6)[1], ["a"], 7)
    commit = commit_on(cclient, keys, chunk=3)
    assert commit(classified, []) == Committed(7, 0)
    assert published(cclient, keys.events("a")) == [f"a-s1:{i}:1" for i in range(7)], "the events must keep their order"
    assert commit.publish(classified, []) == 0


def test_the_commit_carries_on_when_a_master_lost_its_scripts(
    cclient: redis.RedisCluster, redis_cluster: RedisClusterServer, prefix: str
) -> None:
    # Given a commit whose script the masters no longer have (a promoted replica, a restart)
    keys = Keys(prefix)
    commit = commit_on(cclient, keys)
    for node in redis_cluster.masters():
        node.client().script_flush()
    # When it commits a batch spread over every master
    classified = batch(cclient, keys, keys.face_shards(6)[2], [f"cam{i}" for i in range(9)], 2)
    done = commit(classified, [])
    # Then every event is published once, and the next commit finds the script again
    assert done == Committed(18, 0) and all(cclient.xlen(keys.events(f"cam{i}")) == 2 for i in range(9))
    assert commit.publish(classified, []) == 0
