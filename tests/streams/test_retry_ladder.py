"""The workers' shared retry ladder, rung by rung, with an injected clock, sleep and wait (no Redis needed:
the failures are the exceptions redis-py raises)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import pytest
import redis

from emostream.streams.reconnect import Reconnector
from emostream.streams.retry import RetryLadder, flat_pause, growing_pause


class Fakes:
    """A monotonic clock that the sleeps move, and the ladder's waits and group recreations, recorded."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []
        self.waits: list[float] = []
        self.recreated = 0
        self.stopping = False

    def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.now += s

    def wait(self, s: float) -> None:
        self.waits.append(s)

    def recreate(self) -> None:
        self.recreated += 1

    def ladder(self, pause: Callable[[int], float] = flat_pause) -> RetryLadder:
        reconnector = Reconnector("test", lambda: self.stopping, sleep=self.sleep, monotonic=lambda: self.now)
        return RetryLadder("test", reconnector, self.wait, self.recreate, pause)


def failing(*outcomes: Exception | int) -> Callable[[], int]:
    """An op that raises or returns each of ``outcomes`` in turn."""
    it: Iterator[Exception | int] = iter(outcomes)

    def op() -> int:
        outcome = next(it)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    return op


def test_redis_going_away_is_waited_out_with_backoff_and_logged_once_each_way(caplog: pytest.LogCaptureFixture) -> None:
    fakes = Fakes()
    with caplog.at_level(logging.WARNING):
        result = fakes.ladder().run(failing(redis.ConnectionError("gone"), redis.TimeoutError("gone"), 7))
    assert result == 7, "the step's result once Redis answers"
    assert fakes.sleeps == [0.1, 0.2] and fakes.waits == [], f"reconnector backoff only: {fakes.sleeps}, {fakes.waits}"
    messages = [r.getMessage() for r in caplog.records]
    assert any("lost Redis" in m for m in messages) and any("back after 0.3 s" in m for m in messages), messages


def test_a_stop_while_redis_is_away_gives_up() -> None:
    fakes = Fakes()
    fakes.stopping = True
    assert fakes.ladder().run(failing(redis.ConnectionError("gone"), 7)) is None
    assert fakes.sleeps == [], "no retry once stopping"


def test_nogroup_recreates_the_groups_and_does_not_pause() -> None:
    fakes = Fakes()
    assert fakes.ladder().run(failing(redis.ResponseError("NOGROUP No such key or consumer group"))) is None
    assert fakes.recreated == 1 and fakes.waits == [], (fakes.recreated, fakes.waits)


def test_another_redis_error_pauses_briefly_and_is_not_counted_as_a_failure() -> None:
    fakes = Fakes()
    ladder = fakes.ladder(growing_pause)
    assert ladder.run(failing(redis.ResponseError("WRONGTYPE"))) is None
    assert ladder.run(failing(redis.DataError("bad"))) is None
    assert fakes.waits == [0.5, 0.5] and ladder.failures == 0, (fakes.waits, ladder.failures)


def test_failures_in_a_row_pause_longer_and_a_success_resets_them() -> None:
    fakes = Fakes()
    ladder = fakes.ladder(growing_pause)
    for _ in range(3):
        assert ladder.run(failing(ValueError("poison batch"))) is None
    assert ladder.run(failing(5)) == 5
    ladder.run(failing(ValueError("again")))
    assert fakes.waits == [0.2, 0.4, 0.8, 0.2], fakes.waits
    assert [growing_pause(n) for n in (5, 6, 20)] == [3.2, 5.0, 5.0], "capped at 5 s"


def test_the_flat_pause_is_the_same_after_every_failure() -> None:
    fakes = Fakes()
    ladder = fakes.ladder()
    for _ in range(3):
        ladder.run(failing(RuntimeError("bug")))
    assert fakes.waits == [0.5, 0.5, 0.5] and ladder.failures == 3, (fakes.waits, ladder.failures)
