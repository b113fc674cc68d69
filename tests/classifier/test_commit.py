"""The commit step against a real Redis: one atomic call, and never an event twice for one face."""

from __future__ import annotations

import json
from typing import Any

import redis

from emostream.classifier.commit import Classified, Committed, Dropped, ScriptCommit
from emostream.streams.group_commands import ensure_group
from emostream.streams.keys import CLASSIFIER_GROUP, Keys
from emostream.streams.lifecycle import FacesDropped, decode_lifecycle


def queued(client: redis.Redis, stream: str, n: int, consumer: str = "c1") -> list[bytes]:
    """``n`` entries on ``stream``, delivered to ``consumer`` (pending, as a replica holds them)."""
    ensure_group(client, stream, CLASSIFIER_GROUP)
    for i in range(n):
        client.xadd(stream, {"n": str(i)})
    reply: Any = client.xreadgroup(CLASSIFIER_GROUP, consumer, {stream: ">"}, count=n)
    return [eid for eid, _ in reply[0][1]]


def event(stream: str, eid: bytes, source: str, n: int) -> Classified:
    return Classified(stream, eid, source, f"{source}-s:{n}:1", json.dumps({"event_id": f"{source}-s:{n}:1"}).encode())


def published(client: redis.Redis, stream: str) -> list[str]:
    return [json.loads(fields[b"data"])["event_id"] for _, fields in client.xrange(stream)]


def test_one_commit_publishes_announces_acknowledges_and_deletes(rclient: redis.Redis, prefix: str) -> None:
    # Given faces on two shards of the queue, held by this replica
    keys = Keys(prefix)
    shards = [f"{keys.faces}:0", f"{keys.faces}:1"]
    a, b = queued(rclient, shards[0], 3), queued(rclient, shards[1], 2)
    commit = ScriptCommit(rclient, keys, CLASSIFIER_GROUP, events_maxlen=1000)
    # When three are classified (two sources) and two dropped in one commit
    classified = [event(shards[0], a[0], "cam1", 0), event(shards[0], a[1], "cam2", 1), event(shards[1], b[0], "cam1", 2)]
    dropped = [Dropped(shards[0], a[2], "cam1", "cam1-s", "cam1-s:3:1"), Dropped(shards[1], b[1], "cam1", "cam1-s", "cam1-s:4:1")]
    assert commit(classified, dropped) == Committed(3, 2)
    # Then each event is on its source's stream, one notice lists the dropped faces, and nothing stays queued
    assert published(rclient, keys.events("cam1")) == ["cam1-s:0:1", "cam1-s:2:1"]
    assert published(rclient, keys.events("cam2")) == ["cam2-s:1:1"]
    [(_, notice)] = rclient.xrange(keys.lifecycle)
    assert decode_lifecycle(notice) == FacesDropped("cam1", "cam1-s", "age", ("cam1-s:3:1", "cam1-s:4:1"))
    for shard in shards:
        assert rclient.xlen(shard) == 0, "committed faces (their crops) must be deleted"
        assert rclient.xpending(shard, CLASSIFIER_GROUP)["pending"] == 0, "committed faces must be acknowledged"


def test_a_repeated_commit_publishes_nothing_twice(rclient: redis.Redis, prefix: str) -> None:
    # Given a commit whose reply was lost, so it is sent again (or a second replica that held the same faces)
    keys = Keys(prefix)
    ids = queued(rclient, keys.faces, 3)
    commit = ScriptCommit(rclient, keys, CLASSIFIER_GROUP, events_maxlen=1000)
    batch = [event(keys.faces, eid, "cam1", n) for n, eid in enumerate(ids[:2])]
    drop = [Dropped(keys.faces, ids[2], "cam1", "cam1-s", "cam1-s:2:1")]
    assert commit(batch, drop) == Committed(2, 1)
    # When it is committed again
    again = commit(batch, drop)
    # Then no event and no notice is written twice
    assert again == Committed(0, 0), again
    assert published(rclient, keys.events("cam1")) == ["cam1-s:0:1", "cam1-s:1:1"]
    assert rclient.xlen(keys.lifecycle) == 1


def test_a_face_another_commit_finished_is_left_out_of_a_notice(rclient: redis.Redis, prefix: str) -> None:
    # Given two faces of one session, the first already committed by another replica that had claimed it
    keys = Keys(prefix)
    ids = queued(rclient, keys.faces, 2)
    commit = ScriptCommit(rclient, keys, CLASSIFIER_GROUP, events_maxlen=1000)
    commit([event(keys.faces, ids[0], "cam1", 0)], [])
    # When this replica drops both for age
    done = commit([], [Dropped(keys.faces, eid, "cam1", "cam1-s", f"cam1-s:{n}:1") for n, eid in enumerate(ids)])
    # Then only the second is announced: a face is an event or a drop, never both
    assert done == Committed(0, 1)
    [(_, notice)] = rclient.xrange(keys.lifecycle)
    assert decode_lifecycle(notice) == FacesDropped("cam1", "cam1-s", "age", ("cam1-s:1:1",))


def test_the_commit_survives_a_script_cache_flush(rclient: redis.Redis, prefix: str) -> None:
    # A Redis restarted (or SCRIPT FLUSH) forgets the script: the next commit loads it again.
    keys = Keys(prefix)
    ids = queued(rclient, keys.faces, 2)
    commit = ScriptCommit(rclient, keys, CLASSIFIER_GROUP, events_maxlen=1000)
    commit([event(keys.faces, ids[0], "cam1", 0)], [])
    rclient.script_flush()
    assert commit([event(keys.faces, ids[1], "cam1", 1)], []) == Committed(1, 0)


def test_a_face_whose_group_was_destroyed_is_left_queued_not_deleted_unpublished(rclient: redis.Redis, prefix: str) -> None:
    # Given a face held by a replica whose consumer group is then destroyed (by hand, or a restore)
    keys = Keys(prefix)
    [eid] = queued(rclient, keys.faces, 1)
    rclient.xgroup_destroy(keys.faces, CLASSIFIER_GROUP)
    # When the replica commits it
    done = ScriptCommit(rclient, keys, CLASSIFIER_GROUP, events_maxlen=1000)([event(keys.faces, eid, "cam1", 0)], [])
    # Then nothing is published, and the face stays in the queue for the recreated group to deliver again
    assert done == Committed(0, 0)
    assert rclient.xlen(keys.faces) == 1 and rclient.xlen(keys.events("cam1")) == 0


def test_a_batch_larger_than_a_chunk_is_committed_in_several_calls_each_face_once(rclient: redis.Redis, prefix: str) -> None:
    # Given 10 faces, a drop among them, and a commit that sends at most 4 faces per Lua call
    keys = Keys(prefix)
    ids = queued(rclient, keys.faces, 10)
    commit = ScriptCommit(rclient, keys, CLASSIFIER_GROUP, events_maxlen=1000, chunk=4)
    batch = [event(keys.faces, eid, "cam1", n) for n, eid in enumerate(ids[:9])]
    drop = [Dropped(keys.faces, ids[9], "cam1", "cam1-s", "cam1-s:9:1")]
    # When it is committed, twice (a retry)
    assert commit(batch, drop) == Committed(9, 1)
    assert commit(batch, drop) == Committed(0, 0)
    # Then every event is there once, in order, and the queue is empty
    assert published(rclient, keys.events("cam1")) == [f"cam1-s:{n}:1" for n in range(9)]
    assert rclient.xlen(keys.lifecycle) == 1 and rclient.xlen(keys.faces) == 0
