"""The classifier's commit on one Redis (one MULTI/EXEC) and on the cluster (guarded Lua per source, then acks): each event once."""

from __future__ import annotations

import time

import redis

from emostream.streams.groups import ensure_group
from emostream.streams.keys import CLASSIFIER_GROUP, Keys
from emostream.streams.outbox import ClusterOutbox, Publication, SingleOutbox, guard_window_ms
from emostream.streams.wire import envelope
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
    reply = client.xreadgroup(CLASSIFIER_GROUP, "c1", {shard: ">"}, count=n)
    return [eid for eid, _ in reply[0][1]]


def batch(keys: Keys, sources: list[str], per_source: int) -> list[Publication]:
    return [Publication(keys.events(s), f"{s}-s1:{i}:1", envelope(f'{{"i":{i}}}'.encode())) for s in sources for i in range(per_source)]


def test_single_outbox_commits_events_notes_and_acks_together(rclient: redis.Redis, prefix: str) -> None:
    keys = Keys(prefix)
    ids = pending_faces(rclient, keys.faces, 4)
    outbox = SingleOutbox(rclient, keys, CLASSIFIER_GROUP, events_maxlen=1000)
    published = outbox.commit(batch(keys, ["a", "b"], 2), [envelope(b"dropped")], {keys.faces: ids})
    assert published == 4
    assert rclient.xlen(keys.events("a")) == 2 and rclient.xlen(keys.events("b")) == 2 and rclient.xlen(keys.lifecycle) == 1
    assert rclient.xlen(keys.faces) == 0 and rclient.xpending(keys.faces, CLASSIFIER_GROUP)["pending"] == 0


def test_single_outbox_leaves_nothing_to_replay(rclient: redis.Redis, prefix: str) -> None:
    # Given a committed batch (one Redis needs no guard: the events and the acks are one transaction)
    keys = Keys(prefix)
    ids = pending_faces(rclient, keys.faces, 3)
    SingleOutbox(rclient, keys, CLASSIFIER_GROUP, events_maxlen=1000).commit(batch(keys, ["a"], 3), [], {keys.faces: ids})
    # When another replica looks for faces to claim
    claimed = rclient.xautoclaim(keys.faces, CLASSIFIER_GROUP, "c2", min_idle_time=0, start_id="0-0")
    # Then there is none, so the events cannot be published again
    assert claimed[1] == [], f"committed faces were claimable: {claimed}"
    assert rclient.xlen(keys.events("a")) == 3


def test_cluster_outbox_commits_across_slots(cclient: redis.RedisCluster, prefix: str) -> None:
    # Given a batch of three sources whose faces came from two shards
    keys = Keys(prefix)
    shards = keys.face_shards(6)[:2]
    done = {shard: pending_faces(cclient, shard, 3) for shard in shards}
    outbox = ClusterOutbox(cclient, keys, CLASSIFIER_GROUP, events_maxlen=1000, window_ms=WINDOW_MS)
    # When it commits
    published = outbox.commit(batch(keys, ["a", "b", "c"], 2), [envelope(b"dropped")], done)
    # Then every event is out once, the note too, and the faces are acknowledged and deleted
    assert published == 6
    assert [cclient.xlen(keys.events(s)) for s in "abc"] == [2, 2, 2] and cclient.xlen(keys.lifecycle) == 1
    assert all(cclient.xlen(s) == 0 and cclient.xpending(s, CLASSIFIER_GROUP)["pending"] == 0 for s in shards)
    assert {cclient.keyslot(keys.events(s)) for s in "abc"} != {cclient.keyslot(shards[0])}, "the test must span slots"


def test_cluster_outbox_replay_of_a_half_committed_batch_publishes_no_event_twice(cclient: redis.RedisCluster, prefix: str) -> None:
    # Given a classifier that published a batch's events and died before acknowledging its faces
    keys = Keys(prefix)
    shard = keys.face_shards(6)[3]
    done = {shard: pending_faces(cclient, shard, 4)}
    events = batch(keys, ["a", "b"], 2)
    clock = Clock(time.time())
    outbox = ClusterOutbox(cclient, keys, CLASSIFIER_GROUP, events_maxlen=1000, window_ms=WINDOW_MS, clock=clock)
    assert outbox.commit(events, [], {}) == 4
    # When another replica claims the faces and commits the same batch again, now across a bucket boundary
    clock.now += WINDOW_MS / 1000.0 - 0.001
    replayed = outbox.commit(events, [], done)
    # Then no event is published a second time, and the faces are finished
    assert replayed == 0
    assert cclient.xlen(keys.events("a")) == 2 and cclient.xlen(keys.events("b")) == 2, "an event was published twice"
    assert cclient.xlen(shard) == 0
    # ... and a batch mixing old and new faces publishes only the new ones
    assert outbox.commit(batch(keys, ["a"], 3), [], {}) == 1
    assert cclient.xlen(keys.events("a")) == 3


def test_cluster_outbox_forgets_ids_after_two_windows_and_bounds_the_guard(cclient: redis.RedisCluster, prefix: str) -> None:
    keys = Keys(prefix)
    clock = Clock(time.time())
    outbox = ClusterOutbox(cclient, keys, CLASSIFIER_GROUP, events_maxlen=1000, window_ms=WINDOW_MS, clock=clock)
    events = batch(keys, ["a"], 3)
    outbox.commit(events, [], {})
    bucket = int(clock.now * 1000) // WINDOW_MS
    guard = keys.published(keys.events("a"), bucket)
    assert cclient.scard(guard) == 3 and WINDOW_MS // 1000 < cclient.ttl(guard) <= 2 * WINDOW_MS // 1000 + 5, "a guard bucket must expire"
    # Two windows later the ids are no longer remembered (this is the documented bound of the guard)
    clock.now += 2 * WINDOW_MS / 1000.0
    assert outbox.commit(events, [], {}) == 3


def test_the_guard_window_covers_every_redelivery() -> None:
    assert guard_window_ms(10_000, 3) == 60_000, "defaults: 2 × 10 s × 3"
    assert guard_window_ms(30_000, 5) == 300_000
    assert guard_window_ms(100, 1) == 60_000, "at least a minute"


def test_cluster_outbox_carries_on_when_a_master_lost_its_scripts(
    cclient: redis.RedisCluster, redis_cluster: RedisClusterServer, prefix: str
) -> None:
    # Given an outbox whose script the masters no longer have (a promoted replica, a restart)
    keys = Keys(prefix)
    outbox = ClusterOutbox(cclient, keys, CLASSIFIER_GROUP, events_maxlen=1000, window_ms=WINDOW_MS)
    for node in redis_cluster.masters():
        node.client().script_flush()
    # When it commits a batch spread over every master
    events = batch(keys, [f"cam{i}" for i in range(9)], 2)
    published = outbox.commit(events, [], {})
    # Then every event is published once, and the next commit finds the script again
    assert published == 18 and all(cclient.xlen(keys.events(f"cam{i}")) == 2 for i in range(9))
    assert outbox.commit(events, [], {}) == 0
