"""Backlog without reading the queue, consumers that leave, and waiting for Redis at start-up (real Redis)."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest
import redis

from emostream.config import parse_config
from emostream.streams.errors import RedisUnavailable, RedisUnreachable
from emostream.streams.group_commands import LAG_COUNT_CAP, backlog, delete_consumer_if_idle
from emostream.streams.wait import connect_when_up
from tests.conftest import RedisServer, free_port

GROUP = "g"


def fill(client: redis.Redis, stream: str, n: int) -> list[bytes]:
    client.xgroup_create(stream, GROUP, id="0", mkstream=True)
    return [client.xadd(stream, {"crop": b"x" * 1000}) for _ in range(n)]


def test_the_length_of_a_queue_whose_consumers_delete_what_they_finish_is_its_backlog(rclient: redis.Redis, prefix: str) -> None:
    # Given 10 entries, 4 delivered, 2 of those finished (acknowledged and deleted, as classifiers do)
    stream = f"{prefix}:faces"
    ids = fill(rclient, stream, 10)
    rclient.xreadgroup(GROUP, "c1", {stream: ">"}, count=4)
    rclient.xack(stream, GROUP, *ids[:2])
    rclient.xdel(stream, *ids[:2])
    # Then XLEN and XINFO agree: 6 never delivered + 2 pending
    assert backlog(rclient, stream, GROUP, acked_deleted=True) == 8
    assert backlog(rclient, stream, GROUP) == 8


def test_without_a_lag_counter_the_backlog_is_counted_up_to_a_cap(rclient: redis.Redis, prefix: str, monkeypatch: Any) -> None:
    """Redis 6.2 has no ``lag`` in XINFO GROUPS; it is removed from the reply to take that path on Redis 7."""
    stream = f"{prefix}:events:cam1"
    fill(rclient, stream, LAG_COUNT_CAP + 50)
    rclient.xreadgroup(GROUP, "c1", {stream: ">"}, count=20)
    real = rclient.xinfo_groups

    def without_lag(name: str) -> Any:
        return [{k: v for k, v in group.items() if k != "lag"} for group in real(name)]

    monkeypatch.setattr(rclient, "xinfo_groups", without_lag)
    assert backlog(rclient, stream, GROUP) == LAG_COUNT_CAP + 20, "a lower bound past the cap, plus the pending ones"
    rclient.xreadgroup(GROUP, "c1", {stream: ">"}, count=10_000)
    assert backlog(rclient, stream, GROUP) == LAG_COUNT_CAP + 50, "caught up: no lag, everything pending"


def test_a_consumer_that_holds_nothing_is_deleted_one_that_holds_entries_is_kept(rclient: redis.Redis, prefix: str) -> None:
    stream = f"{prefix}:faces"
    ids = fill(rclient, stream, 3)
    rclient.xreadgroup(GROUP, "busy", {stream: ">"}, count=1)
    rclient.xreadgroup(GROUP, "done", {stream: ">"}, count=2)
    rclient.xack(stream, GROUP, *ids[1:])

    assert delete_consumer_if_idle(rclient, stream, GROUP, "done") is True
    assert delete_consumer_if_idle(rclient, stream, GROUP, "busy") is False
    consumers = {c["name"]: c["pending"] for c in rclient.xinfo_consumers(stream, GROUP)}
    assert consumers == {b"busy": 1}, f"the idle consumer must go, the busy one stay with its entry: {consumers}"


# --- waiting for Redis at start-up ---------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def redis_section(url: str, **extra: Any) -> Any:
    return parse_config({"redis": {"url": url, "connect_timeout_s": 1, **extra}}).redis


def test_waiting_backs_off_and_gives_up_after_the_configured_time_with_a_clear_message(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()

    def unreachable(cfg: Any, retries: int) -> redis.Redis:
        raise RedisUnreachable("cannot reach Redis at redis://127.0.0.1:1/0: Connection refused")

    with caplog.at_level(logging.WARNING), pytest.raises(RedisUnreachable) as info:
        connect_when_up(redis_section("redis://127.0.0.1:1/0"), 20, clock=clock, sleep=clock.sleep, connector=unreachable)
    assert clock.sleeps[:4] == [0.25, 0.5, 1.0, 2.0] and max(clock.sleeps) == 5.0, clock.sleeps
    assert clock.now <= 20, "never waits past redis.startup_wait_s"
    assert "gave up after waiting" in str(info.value) and "redis.startup_wait_s=20" in str(info.value)
    waiting = [r.getMessage() for r in caplog.records if "waiting for Redis" in r.getMessage()]
    assert len(waiting) == 1, f"one line says what the worker waits for, not one per attempt: {waiting}"


def test_configuration_errors_fail_at_once_without_waiting() -> None:
    clock = FakeClock()

    def refused(cfg: Any, retries: int) -> redis.Redis:
        raise RedisUnavailable("Redis at redis://127.0.0.1:1/0 refused the credentials of user 'default'")

    with pytest.raises(RedisUnavailable, match="refused the credentials"):
        connect_when_up(redis_section("redis://127.0.0.1:1/0"), 60, clock=clock, sleep=clock.sleep, connector=refused)
    assert clock.sleeps == []


def test_a_worker_started_before_redis_connects_once_redis_is_up() -> None:
    # Given a port where Redis starts 1.5 s from now
    server = RedisServer()
    starter = threading.Timer(1.5, server.start)
    starter.start()
    try:
        # When a worker connects with time to wait
        client = connect_when_up(redis_section(server.url), 30)
        # Then it gets a working client once Redis answers (without waiting it would have failed: see below)
        assert client.ping()
    finally:
        starter.join()
        server.stop()


def test_with_no_time_to_wait_an_unreachable_redis_fails_at_once() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    with pytest.raises(RedisUnreachable, match=r"cannot reach Redis at redis://127\.0\.0\.1") as info:
        connect_when_up(redis_section(url, startup_wait_s=0), 0)
    assert "gave up after waiting" not in str(info.value), "nothing was waited for"
