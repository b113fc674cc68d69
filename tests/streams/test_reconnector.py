"""Retrying writes across a lost connection, against a real Redis.

The dangerous case is a write Redis executed whose reply never arrived: to the
client it looks like a failure. These tests make the first attempt fail that way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
import redis

from emostream.streams.reconnect import Reconnector


def reply_lost_once(client: redis.Redis, key: str) -> tuple[Callable[[], None], list[int]]:
    """An XADD whose first reply is lost after Redis executed it; and the attempt counter."""
    attempts = [0]

    def write() -> None:
        attempts[0] += 1
        client.xadd(key, {"n": str(attempts[0])})
        if attempts[0] == 1:
            raise redis.ConnectionError("connection lost before the reply")

    return write, attempts


def test_a_write_that_landed_before_the_reply_was_lost_is_not_repeated(rclient: redis.Redis, prefix: str) -> None:
    key = f"{prefix}:faces"
    write, attempts = reply_lost_once(rclient, key)
    Reconnector("test", lambda: False).call(write, committed=lambda: rclient.xlen(key) > 0)
    assert attempts == [1]
    assert rclient.xlen(key) == 1


def test_without_a_commit_check_a_lost_reply_means_a_second_write(rclient: redis.Redis, prefix: str) -> None:
    """Why the check exists: the plain retry duplicates the entry."""
    key = f"{prefix}:faces"
    write, attempts = reply_lost_once(rclient, key)
    Reconnector("test", lambda: False).call(write)
    assert attempts == [2]
    assert rclient.xlen(key) == 2


def test_a_write_that_did_not_land_is_retried_until_it_does(rclient: redis.Redis, prefix: str) -> None:
    key = f"{prefix}:faces"
    attempts = 0

    def write() -> str:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise redis.ConnectionError("connection refused")
        return rclient.xadd(key, {"n": str(attempts)}).decode()

    result = Reconnector("test", lambda: False).call(write, committed=lambda: rclient.xlen(key) > 0)
    assert attempts == 3
    assert result is not None and rclient.xlen(key) == 1


def test_stopping_ends_the_retries(rclient: redis.Redis) -> None:
    def down() -> None:
        raise redis.ConnectionError("connection refused")

    assert Reconnector("test", lambda: True).call(down) is None


def test_only_a_call_that_failed_announces_that_redis_is_back(caplog: pytest.LogCaptureFixture) -> None:
    # Given one reconnector shared by two threads, one of which lost its (cluster) node
    reconnector = Reconnector("ingest", lambda: False)
    attempts = []

    def flaky() -> str:
        attempts.append(1)
        if len(attempts) == 2:
            assert reconnector.call(lambda: "fine") == "fine", "meanwhile a call to a live node succeeds"
        if len(attempts) < 3:
            raise ConnectionError("node down")
        return "ok"

    with caplog.at_level(logging.WARNING, logger="emostream.streams.reconnect"):
        assert reconnector.call(flaky) == "ok"
    # Then the outage is one "lost" and one "back" line, announced by the call that failed
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2 and "lost Redis" in lines[0] and "Redis is back" in lines[1], lines
