"""The Python subscriber against a real Redis: typed records, consumer groups, resuming, claiming."""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest
import redis

from emostream.client.subscribe import EmotionEvent, SessionSummary, Subscriber, TrackUpdate
from emostream.streams.keys import Keys
from tests.aggregator.support import end, event, publish, run_until_summary, start, stepped
from tests.conftest import RedisServer


@pytest.fixture
def sub(redis_server: RedisServer, prefix: str) -> Subscriber:
    return Subscriber(redis_server.url, prefix, block_ms=100)


def publish_faces(rclient: redis.Redis, prefix: str, n: int, first: int = 0, source: str = "cam1") -> list[str]:
    keys = Keys(prefix)
    rclient.sadd(keys.sources, source)
    events = [event(f"{source}-s", seq, 1, "happy", source=source) for seq in range(first, first + n)]
    publish(rclient, keys, events)
    return [e.event_id for e in events]


class CrashError(Exception):
    pass


def test_events_are_typed_records_in_stream_order(sub: Subscriber, rclient: redis.Redis, prefix: str) -> None:
    ids = publish_faces(rclient, prefix, 5)
    records = list(sub.events(from_start=True, follow=False))
    assert all(isinstance(r, EmotionEvent) for r in records)
    assert [r.event_id for r in records] == ids
    first = records[0]
    assert (first.source, first.session, first.track_id, first.label) == ("cam1", "cam1-s", 1, "happy")
    assert first.confidence == 0.8 and abs(sum(first.probabilities.values()) - 1) < 1e-3 and first.offset_s == 0.0


def test_a_group_subscriber_resumes_after_a_crash_with_the_record_it_did_not_finish(
    redis_server: RedisServer, rclient: redis.Redis, prefix: str
) -> None:
    # Given ten events and a subscriber in group "app" whose loop body fails on the fifth
    ids = publish_faces(rclient, prefix, 10)
    handled: list[str] = []
    crashing = Subscriber(redis_server.url, prefix, block_ms=100)
    with pytest.raises(CrashError):
        for record in crashing.events(group="app", consumer="a", from_start=True, follow=False):
            if len(handled) == 4:
                raise CrashError
            handled.append(record.event_id)
    crashing.close()
    # When a new subscriber with the same group and consumer starts (a restart)
    resumed = Subscriber(redis_server.url, prefix, block_ms=100)
    again = [r.event_id for r in resumed.events(group="app", consumer="a", follow=False)]
    # Then it gets the unfinished fifth event first, then the rest, and nothing handled twice
    assert handled == ids[:4]
    assert again == ids[4:], f"expected the events from the fifth on, got {again}"
    # ... and a third run, after new events, gets only those
    new_ids = publish_faces(rclient, prefix, 3, first=10)
    assert [r.event_id for r in resumed.events(group="app", consumer="a", follow=False)] == new_ids
    assert rclient.xpending(Keys(prefix).events("cam1"), "app")["pending"] == 0


def test_with_explicit_ack_unacknowledged_records_come_back(sub: Subscriber, rclient: redis.Redis, prefix: str) -> None:
    ids = publish_faces(rclient, prefix, 3)
    got = list(sub.events(group="manual", consumer="a", from_start=True, follow=False, auto_ack=False))
    sub.ack(got[0])
    sub.ack(got[2])
    again = [r.event_id for r in sub.events(group="manual", consumer="a", follow=False, auto_ack=False)]
    assert again == [ids[1]], f"only the unacknowledged record should come back, got {again}"


def test_a_new_group_starts_at_the_end_unless_from_start(sub: Subscriber, rclient: redis.Redis, prefix: str) -> None:
    publish_faces(rclient, prefix, 4)
    assert list(sub.events(group="late", consumer="a", follow=False)) == [], "a new group without from_start skips the past"
    assert len(list(sub.events(group="early", consumer="a", from_start=True, follow=False))) == 4


def test_records_pending_at_another_consumer_are_claimed_after_the_idle_time(sub: Subscriber, rclient: redis.Redis, prefix: str) -> None:
    # Given consumer "a" of group "app" that took three events and vanished without acknowledging
    ids = publish_faces(rclient, prefix, 3)
    taken = list(itertools.islice(sub.events(group="app", consumer="a", from_start=True, auto_ack=False), 3))
    assert [r.event_id for r in taken] == ids
    # When consumer "b" reads with a short claim time, after that time
    time.sleep(0.3)
    claimed = list(itertools.islice(sub.events(group="app", consumer="b", claim_idle_ms=200), 3))
    # Then "b" gets them
    assert [r.event_id for r in claimed] == ids


def test_following_without_a_group_picks_up_a_source_that_appears_later(sub: Subscriber, rclient: redis.Redis, prefix: str) -> None:
    # Given a subscriber following from now on, with cam1's past events and no cam2 yet
    publish_faces(rclient, prefix, 2, source="cam1")
    seen: list[EmotionEvent] = []
    calls = itertools.count()
    deadline = time.monotonic() + 20

    def stop() -> bool:
        # When cam2 appears after the subscriber started (its second pass through the loop)
        if next(calls) == 1:
            publish_faces(rclient, prefix, 2, source="cam2")
        return len(seen) >= 2 or time.monotonic() > deadline

    for record in sub.events(stop=stop):
        seen.append(record)
    # Then it gets cam2's events from their beginning, and not cam1's past ones
    assert [r.source for r in seen] == ["cam2", "cam2"], "a source registered after the start is read from its beginning"


def test_tracks_and_summaries_from_a_real_aggregator(sub: Subscriber, make_config: Any, rclient: redis.Redis) -> None:
    worker = stepped(make_config(aggregator={"reorder_ms": 0}))
    keys = worker.keys
    start(rclient, keys, "cam1-t")
    publish(rclient, keys, [event("cam1-t", seq, 3, "sad") for seq in range(10)])
    end(rclient, keys, "cam1-t", faces=10, frames=10)
    run_until_summary(worker, rclient, "cam1-t")
    tracks = list(sub.tracks(group="t", consumer="a", from_start=True, follow=False))
    assert all(isinstance(t, TrackUpdate) for t in tracks)
    assert [(t.type, t.track_id, t.label) for t in tracks] == [("new", 3, "sad"), ("end", 3, "sad")]
    assert tracks[0].before is None and tracks[1].before == tracks[0].after and tracks[1].after["dominant"] == "sad"
    [summary] = list(sub.summaries(from_start=True, follow=False))
    assert isinstance(summary, SessionSummary)
    assert (summary.session, summary.source, summary.faces, summary.share["sad"]) == ("cam1-t", "cam1", 10, 1.0)


def test_emostreams_own_groups_are_refused(sub: Subscriber) -> None:
    with pytest.raises(ValueError, match="emostream's own"):
        next(sub.events(group="aggregators"))
