"""Reconnect delays: exponential, capped, jittered."""

from __future__ import annotations

import pytest

from emostream.ingest.backoff import Backoff


def test_delays_double_up_to_the_cap_without_jitter() -> None:
    backoff = Backoff(0.5, 4.0, jitter=0.0)
    assert [backoff.next() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_reset_starts_again_from_the_initial_delay() -> None:
    backoff = Backoff(0.5, 4.0, jitter=0.0)
    for _ in range(3):
        backoff.next()
    backoff.reset()
    assert backoff.next() == 0.5


@pytest.mark.parametrize(("draw", "expected"), [(0.0, 0.8), (0.5, 1.0), (1.0, 1.2)])
def test_jitter_spreads_each_delay_by_up_to_twenty_percent(draw: float, expected: float) -> None:
    backoff = Backoff(1.0, 10.0, jitter=0.2, rand=lambda: draw)
    assert backoff.next() == pytest.approx(expected)


def test_many_attempts_do_not_overflow() -> None:
    backoff = Backoff(0.5, 10.0, jitter=0.0)
    for _ in range(5000):
        delay = backoff.next()
    assert delay == 10.0
