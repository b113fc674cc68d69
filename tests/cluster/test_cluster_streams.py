"""Keys, ingest's writes and the group reader on a real Redis Cluster: shards spread, one slot per transaction, no CROSSSLOT."""

from __future__ import annotations

import json
import threading
import time

import redis

from emostream.client.follow import follow_events
from emostream.ingest.publisher import IngestPublisher
from emostream.streams.events import encode_event
from emostream.streams.group_commands import ensure_group
from emostream.streams.groups import GroupReader
from emostream.streams.keys import Keys
from emostream.streams.lifecycle import SessionEnd
from emostream.streams.reconnect import Reconnector
from emostream.streams.xread import xread_streams
from tests.aggregator.support import event
from tests.helpers import Ticks, face_job, wait_for
from tests.support.cluster import RedisClusterServer

SHARDS = 6


def test_six_face_shards_put_two_on_each_of_three_masters(redis_cluster: RedisClusterServer, prefix: str) -> None:
    shards = Keys(prefix).face_shards(SHARDS)
    owners = [redis_cluster.master_of(shard).port for shard in shards]
    assert sorted(owners.count(port) for port in set(owners)) == [2, 2, 2], f"shards per master: {owners}"


def test_a_source_keeps_its_shard_and_its_checkpoint_shares_the_slot(prefix: str, cclient: redis.RedisCluster) -> None:
    keys = Keys(prefix)
    for source in ("cam1", "door", "x" * 40):
        shard = keys.face_shard(source, SHARDS)
        assert shard == keys.face_shard(source, SHARDS), "the shard of a source must be stable"
        assert cclient.keyslot(shard) == cclient.keyslot(keys.checkpoint(source, SHARDS)), source
    assert cclient.keyslot(keys.faces) == cclient.keyslot(keys.checkpoint("cam1")), "one shard: the checkpoint is in the stream's slot"
    spread = {keys.face_shard(f"cam{i}", SHARDS) for i in range(60)}
    assert len(spread) == SHARDS, f"60 sources should use every shard, used {len(spread)}"


def test_ingest_publishes_a_frame_and_ends_a_session_on_the_cluster(prefix: str, cclient: redis.RedisCluster) -> None:
    # Given ingest's publisher on the cluster, with six shards
    keys = Keys(prefix)
    publisher = IngestPublisher(cclient, keys, Reconnector("test", lambda: False), faces_maxlen=1000, faces_shards=SHARDS)
    jobs = [face_job(source="cam7", session="cam7-s1", seq=3, track=t) for t in (1, 2)]
    state = json.dumps({"v": 1, "session": "cam7-s1", "frame_index": 3})
    # When it publishes a frame (a MULTI/EXEC on the cluster) and then ends the session
    publisher.frame("cam7", "cam7-s1", 3, jobs, state)
    shard = keys.face_shard("cam7", SHARDS)
    assert cclient.xlen(shard) == 2, "both faces go to the source's shard"
    assert publisher.checkpoint("cam7") == json.loads(state)
    end = SessionEnd("cam7", "cam7-s1", 1.0, 2.0, "eof", 1, 0, 0, 2, 0)
    publisher.session_ended(end, checkpointed=True)
    # Then the end message is out and the checkpoint gone
    assert cclient.xlen(keys.lifecycle) == 1 and publisher.checkpoint("cam7") is None
    others = [s for s in keys.face_shards(SHARDS) if s != shard]
    assert all(cclient.xlen(s) == 0 for s in others), "no face in another shard"


def reader_on(client: redis.RedisCluster, keys: Keys, consumer: str, streams: list[str], **options: object) -> GroupReader:
    settings: dict[str, object] = {"claim_idle_ms": 100, "max_deliveries": 2, "deadletter": keys.deadletter}
    settings.update(options)
    reader = GroupReader(client, "workers", consumer, **settings)  # type: ignore[arg-type]
    for stream in streams:
        reader.follow(stream)
    return reader


def test_reading_six_shards_takes_from_every_shard_and_starves_none(prefix: str, cclient: redis.RedisCluster) -> None:
    # Given a deep backlog in shard 0 and two entries in each other shard
    keys = Keys(prefix)
    shards = keys.face_shards(SHARDS)
    reader = reader_on(cclient, keys, "a", shards)
    pipe = cclient.pipeline(transaction=False)
    for i in range(600):
        pipe.xadd(shards[0], {"n": str(i)})
    for shard in shards[1:]:
        pipe.xadd(shard, {"n": "a"})
        pipe.xadd(shard, {"n": "b"})
    pipe.execute()
    # When it reads batches of 12
    first = reader.read(12, None)
    # Then the first batch already holds entries of every shard, and no more than asked
    assert {stream for stream, _ in first} == set(shards), f"streams in the first batch: {[s for s, _ in first]}"
    assert sum(len(entries) for _, entries in first) <= 12
    # ... and the rest of the backlog follows
    total = sum(len(e) for _, e in first)
    while got := reader.read(12, None):
        total += sum(len(e) for _, e in got)
    assert total == 600 + 2 * (SHARDS - 1)


def test_a_read_of_named_shards_keeps_the_callers_order_and_count_per_shard(prefix: str, cclient: redis.RedisCluster) -> None:
    # Given three entries in each of three shards (the classifier names the shards and shares its batch out itself)
    keys = Keys(prefix)
    shards = keys.face_shards(SHARDS)
    reader = reader_on(cclient, keys, "a", shards)
    for shard in shards[:3]:
        for n in range(3):
            cclient.xadd(shard, {"n": str(n)})
    # When it asks for two entries of each, last shard first, twice
    for expected in ([2, 2, 2], [1, 1, 1]):
        got = reader.read(2, None, [shards[2], shards[0], shards[1]])
        # Then the reply is in that order, with up to two entries of each, as XREADGROUP's COUNT on one Redis
        assert [s for s, _ in got] == [shards[2], shards[0], shards[1]], f"order of the reply: {[s for s, _ in got]}"
        assert [len(e) for _, e in got] == expected, f"entries per shard: {[len(e) for _, e in got]}"


def test_a_blocking_read_over_shards_returns_when_an_entry_arrives(prefix: str, cclient: redis.RedisCluster) -> None:
    keys = Keys(prefix)
    shards = keys.face_shards(SHARDS)
    reader = reader_on(cclient, keys, "a", shards)
    threading.Timer(0.2, lambda: cclient.xadd(shards[4], {"n": "late"})).start()
    began = time.monotonic()
    got = reader.read(10, 3000)
    waited = time.monotonic() - began
    assert [(s, [f for _, f in e]) for s, e in got] == [(shards[4], [{b"n": b"late"}])]
    assert 0.15 < waited < 2.0, f"the read should end soon after the entry arrived, waited {waited:.2f} s"
    began = time.monotonic()
    assert reader.read(10, 300) == [] and time.monotonic() - began >= 0.29, "an empty read blocks for its block time"


def test_claims_and_dead_letters_work_per_shard_on_the_cluster(prefix: str, cclient: redis.RedisCluster) -> None:
    # Given a consumer that died holding one entry in each of two shards (different slots than the dead-letter stream)
    keys = Keys(prefix)
    shards = keys.face_shards(SHARDS)[:2]
    dead = reader_on(cclient, keys, "dead", shards)
    ids = [cclient.xadd(shard, {"n": "1"}) for shard in shards]
    assert sum(len(e) for _, e in dead.read(10, None)) == 2
    # When another consumer claims them (delivery 2), and claims again once more (delivery 3 > max_deliveries 2)
    alive = reader_on(cclient, keys, "alive", shards, acked_deleted=True, monotonic=Ticks())  # a claim due at every call
    claimed = wait_for(lambda: alive.claim(), 5, "nothing claimed", interval=0.05)
    assert sorted(s for s, _ in claimed) == sorted(shards)

    def claim_again() -> bool:
        alive.claim()
        return bool(cclient.xlen(keys.deadletter) == 2)

    wait_for(claim_again, 5, "both entries should be dead-lettered", interval=0.05)
    # Then both went to the dead-letter stream and left their shards
    assert sorted(f[b"id"] for _, f in cclient.xrange(keys.deadletter)) == sorted(ids)
    assert all(cclient.xlen(s) == 0 and cclient.xpending(s, "workers")["pending"] == 0 for s in shards)


def test_groups_on_every_shard_can_be_created_twice(prefix: str, cclient: redis.RedisCluster) -> None:
    for _ in range(2):
        for shard in Keys(prefix).face_shards(SHARDS):
            ensure_group(cclient, shard, "classifiers")
    assert all(len(cclient.xinfo_groups(s)) == 1 for s in Keys(prefix).face_shards(SHARDS))


def test_plain_reads_over_several_sources_work_on_the_cluster(prefix: str, cclient: redis.RedisCluster) -> None:
    # Given four events streams in different slots, read from "now on" ($), as `emostream events` does
    keys = Keys(prefix)
    streams = [keys.events(f"cam{i}") for i in range(4)]
    for stream in streams:
        cclient.xadd(stream, {"old": "1"})
    assert len({cclient.keyslot(s) for s in streams}) > 1
    positions = {stream: "$" for stream in streams}
    assert xread_streams(cclient, positions, 100, None) == [], "$ skips what was there"
    # When entries arrive, one of them while the reader blocks
    cclient.xadd(streams[0], {"new": "1"})
    cclient.xadd(streams[3], {"new": "2"})
    got = xread_streams(cclient, positions, 100, None)
    threading.Timer(0.2, lambda: cclient.xadd(streams[2], {"new": "3"})).start()
    late = xread_streams(cclient, {s: "$" if s == streams[2] else "0-0" for s in streams[2:3]}, 100, 2000)
    # Then each new entry is read once, and the blocking read returns with the late one
    assert sorted((s.decode(), [f for _, f in e]) for s, e in got) == [(streams[0], [{b"new": b"1"}]), (streams[3], [{b"new": b"2"}])]
    assert [(s.decode(), [f for _, f in e]) for s, e in late] == [(streams[2], [{b"new": b"3"}])]


def test_the_preview_and_its_boxes_share_a_slot(prefix: str, cclient: redis.RedisCluster) -> None:
    keys = Keys(prefix)
    assert cclient.keyslot(keys.preview("cam1")) == cclient.keyslot(keys.preview_meta("cam1"))
    pipe = cclient.pipeline(transaction=True)
    pipe.set(keys.preview("cam1"), b"jpeg", ex=5)
    pipe.set(keys.preview_meta("cam1"), b"{}", ex=5)
    pipe.execute()  # a CROSSSLOT transaction would raise here
    assert cclient.get(keys.preview_meta("cam1")) == b"{}"


def test_following_the_events_of_several_sources_works_on_the_cluster(prefix: str, cclient: redis.RedisCluster) -> None:
    # Given three registered sources whose events streams are in different slots, one event each already there
    keys = Keys(prefix)
    sources = ["cam1", "cam2", "cam3"]
    for source in sources:
        cclient.sadd(keys.sources, source)
        cclient.xadd(keys.events(source), encode_event(event(f"{source}-s", 0, 1, "happy")))
    stop = threading.Event()
    seen: list[str] = []

    def follow() -> None:
        for item in follow_events(cclient, keys, block_ms=100, stop=stop.is_set):  # from now on, as `emostream events`
            if item is not None:
                seen.append(item["event_id"])

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    time.sleep(0.5)
    # When each source publishes one more event
    for source in sources:
        cclient.xadd(keys.events(source), encode_event(event(f"{source}-s", 1, 1, "sad")))
    # Then the follower yields exactly the new ones (no CROSSSLOT, nothing from before it started)
    wait_for(lambda: len(seen) >= 3, 10, f"not every new event was followed (seen {seen})")
    time.sleep(0.3)
    stop.set()
    thread.join(5)
    assert sorted(seen) == [f"{s}-s:1:1" for s in sources], seen


def test_a_lost_group_on_one_shard_is_recreated_and_read_again(prefix: str, cclient: redis.RedisCluster) -> None:
    # Given a reader of three shards, one of which lost its stream and group (a master restarted empty)
    keys = Keys(prefix)
    shards = keys.face_shards(SHARDS)[:3]
    reader = reader_on(cclient, keys, "a", shards)
    cclient.delete(shards[1])
    # When it reads: the pipelined read meets NOGROUP
    assert reader.read(10, None) == []
    # Then the groups are back, and the shard's new entries are read
    assert reader.recreated == 1
    cclient.xadd(shards[1], {"n": "after"})
    assert [(s, [f for _, f in e]) for s, e in reader.read(10, None)] == [(shards[1], [{b"n": b"after"}])]
