"""The shared consumer-group reader against a real Redis: claims, dead letters after K deliveries, lost groups."""

from __future__ import annotations

import redis

from emostream.streams.groups import GroupReader
from emostream.streams.keys import Keys
from tests.helpers import Ticks, wait_for


def reader(client: redis.Redis, keys: Keys, consumer: str, **options: object) -> GroupReader:
    settings: dict[str, object] = {"claim_idle_ms": 100, "max_deliveries": 3, "deadletter": keys.deadletter}
    settings.update(options)
    return GroupReader(client, "workers", consumer, **settings)  # type: ignore[arg-type]


def test_entries_left_by_a_dead_consumer_are_claimed_by_another(rclient: redis.Redis, prefix: str) -> None:
    # Given consumer "a" that read three entries and died without acknowledging them
    keys = Keys(prefix)
    stream = f"{prefix}:work"
    dead = reader(rclient, keys, "a")
    dead.follow(stream)
    ids = [rclient.xadd(stream, {"n": str(i)}) for i in range(3)]
    assert [eid for _, entries in dead.read(10, None) for eid, _ in entries] == ids
    # When consumer "b" claims after the idle time
    alive = reader(rclient, keys, "b")
    alive.follow(stream)
    claimed = wait_for(lambda: alive.claim(), 5, "nothing was claimed", interval=0.05)
    # Then b holds exactly those entries, with their fields, and nothing was dead-lettered
    assert claimed == [(stream, [(eid, {b"n": str(i).encode()}) for i, eid in enumerate(ids)])]
    pending = rclient.xpending_range(stream, "workers", min="-", max="+", count=10)
    assert {p["consumer"] for p in pending} == {b"b"}, pending
    assert rclient.xlen(keys.deadletter) == 0


def test_an_entry_delivered_more_than_k_times_goes_to_the_dead_letter_stream(rclient: redis.Redis, prefix: str) -> None:
    # Given a poison entry that every consumer takes and none acknowledges (K = 3)
    keys = Keys(prefix)
    stream = f"{prefix}:work"
    hooks: list[tuple[str, str]] = []
    consumer = reader(rclient, keys, "a", on_dead_letter=lambda kind, reason: hooks.append((kind, reason)), monotonic=Ticks())
    consumer.follow(stream)
    poison = rclient.xadd(stream, {"v": "1", "data": "x" * 20_000})
    consumer.read(10, None)  # delivery 1
    # When it is claimed again and again after the idle time (a claim due at every call, not every half idle time: Ticks)
    rounds = []
    for _ in range(5):
        rounds.append(wait_for(lambda: consumer.claim() or rclient.xlen(keys.deadletter), 5, "no claim or dead letter", interval=0.05))
        if rclient.xlen(keys.deadletter):
            break
    # Then deliveries 2 and 3 are handed out, the 4th goes to the dead-letter stream, acknowledged
    assert [r for r in rounds if isinstance(r, list)] == [[(stream, [(poison, {b"v": b"1", b"data": b"x" * 20_000})])]] * 2
    [(_, letter)] = rclient.xrange(keys.deadletter)
    assert letter[b"reason"] == b"delivered 4 times without success" and letter[b"id"] == poison and letter[b"stream"] == stream.encode()
    assert hooks == [("max_deliveries", "delivered 4 times without success")]
    assert rclient.xpending(stream, "workers")["pending"] == 0, "a dead-lettered entry is acknowledged"
    # ... and the letter keeps a bounded prefix of the oversized payload, and its size
    assert len(letter[b"orig:data"]) == 8192 and letter[b"orig:data_bytes"] == b"20000"


def test_a_lost_group_is_recreated_and_reading_goes_on(rclient: redis.Redis, prefix: str) -> None:
    # Given a reader of a stream whose group vanished (Redis restarted without persistence)
    keys = Keys(prefix)
    stream = f"{prefix}:work"
    consumer = reader(rclient, keys, "a")
    consumer.follow(stream)
    rclient.delete(stream)
    # When it reads and claims
    assert consumer.read(10, None) == [], "NOGROUP is answered with nothing read, not an error"
    assert consumer.claim() == []
    # Then the group exists again and new entries are read
    assert [g["name"] for g in rclient.xinfo_groups(stream)] == [b"workers"]
    eid = rclient.xadd(stream, {"n": "1"})
    assert consumer.read(10, None) == [(stream, [(eid, {b"n": b"1"})])]
    assert consumer.recreated >= 1
