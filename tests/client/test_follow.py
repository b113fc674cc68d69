"""``follow_events`` (the reader of ``emostream events`` and ``emostream run``) across a Redis restart."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from emostream.client.follow import follow_events
from emostream.streams.events import encode_event
from emostream.streams.keys import Keys
from tests.aggregator.support import event
from tests.conftest import RedisServer
from tests.helpers import wait_for


@pytest.fixture
def persistent_redis() -> Iterator[RedisServer]:
    server = RedisServer(persist=True).start()
    yield server
    server.stop()


def test_following_goes_on_after_redis_restarts(persistent_redis: RedisServer, prefix: str) -> None:
    # Given a follower of every source that has seen one event
    keys = Keys(prefix)
    # No retries inside redis-py: what rides the outage out must be the follower itself.
    client = redis.Redis.from_url(persistent_redis.url, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0))
    client.sadd(keys.sources, "cam1")
    client.xadd(keys.events("cam1"), encode_event(event("cam1-s", 0, 1, "happy")))
    stop = threading.Event()
    seen: list[str] = []
    idle = [0]

    def follow() -> None:
        for item in follow_events(client, keys, from_start=True, block_ms=100, stop=stop.is_set, reconnect_cap_s=0.5):
            if item is None:
                idle[0] += 1
            else:
                seen.append(item["event_id"])

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    wait_for(lambda: seen, 10, "the first event was not followed")
    # When Redis is down for 2 s and comes back with its data, and a new event arrives
    persistent_redis.restart(down_s=2.0)
    assert thread.is_alive(), "the follower died with the connection"
    writer = redis.Redis.from_url(persistent_redis.url)
    writer.xadd(keys.events("cam1"), encode_event(event("cam1-s", 1, 1, "sad")))
    # Then the follower yields it, once, after the one before the outage, and never raised
    wait_for(lambda: len(seen) >= 2, 20, f"the event after the restart was not followed (seen {seen})")
    stop.set()
    thread.join(5)
    assert seen == ["cam1-s:0:1", "cam1-s:1:1"]
    assert idle[0] > 0, "the follower kept yielding None (so a caller can look after its workers) while Redis was away"
