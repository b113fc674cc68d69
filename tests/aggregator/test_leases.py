"""Dividing the sources among aggregators: the plan, and the leases on a real Redis with a fake clock."""

from __future__ import annotations

import logging
from collections import Counter

import pytest
import redis

from emostream.aggregator.leases import SourceLeases, assign
from emostream.aggregator.store import SessionStore
from emostream.streams.keys import Keys
from tests.aggregator.support import event

SOURCES = [f"cam{i}" for i in range(8)]
LEASE_S = 10.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def leases(rclient: redis.Redis, prefix: str, member: str, clock: Clock) -> SourceLeases:
    return SourceLeases(rclient, Keys(prefix), member, LEASE_S, clock)


def settle(*members: SourceLeases, rounds: int = 3) -> None:
    """Run lease rounds as the workers do: give up what the plan moved away, then look again."""
    for _ in range(rounds):
        for m in members:
            for source in m.round(SOURCES).to_release:
                m.release(source)


def test_the_plan_gives_every_source_to_one_member_and_balances_them() -> None:
    plan = assign(SOURCES, ["a", "b", "c"])
    assert sorted(plan) == SOURCES, "every source has exactly one member"
    assert sorted(Counter(plan.values()).values()) == [2, 3, 3], f"8 sources over 3 members: {plan}"
    assert assign(reversed(SOURCES), ["c", "b", "a"]) == plan, "everyone who sees the same members computes the same plan"
    assert assign(SOURCES, []) == {}


def test_a_member_joining_moves_only_about_its_share() -> None:
    before = assign(SOURCES, ["a", "b"])
    after = assign(SOURCES, ["a", "b", "c"])
    moved = [s for s in SOURCES if before[s] != after[s]]
    assert len(moved) <= 4, f"a third member should take about a third of 8 sources, moved {moved}"


def test_a_lone_aggregator_leases_every_source(rclient: redis.Redis, prefix: str) -> None:
    clock = Clock()
    a = leases(rclient, prefix, "agg-a", clock)
    change = a.round(SOURCES)
    assert sorted(change.acquired) == SOURCES and change.lost == [] and change.to_release == []
    assert set(a.owned.values()) == {1}, "the first lease of each source is epoch 1"


def test_a_second_aggregator_gets_half_once_the_first_releases_its_extras(rclient: redis.Redis, prefix: str) -> None:
    # Given one aggregator holding all eight sources
    clock = Clock()
    a = leases(rclient, prefix, "agg-a", clock)
    a.round(SOURCES)
    # When a second one joins and both run their rounds
    b = leases(rclient, prefix, "agg-b", clock)
    assert b.round(SOURCES).acquired == {}, "nothing is free yet: the first one still holds every lease"
    to_release = a.round(SOURCES).to_release
    assert len(to_release) == 4, f"the first gives up half: {to_release}"
    for source in to_release:
        a.release(source)
    acquired = b.round(SOURCES).acquired
    # Then each holds four, and nobody holds a source twice
    assert sorted(acquired) == sorted(to_release)
    assert set(acquired.values()) == {2}, "each hand-over starts a new epoch"
    assert len(a.owned) == len(b.owned) == 4 and not set(a.owned) & set(b.owned)


def test_the_sources_of_a_silent_aggregator_are_taken_after_the_lease_with_a_log_line(
    rclient: redis.Redis, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Given two aggregators sharing the sources
    clock = Clock()
    a, b = leases(rclient, prefix, "agg-a", clock), leases(rclient, prefix, "agg-b", clock)
    settle(a, b)
    held_by_a = sorted(a.owned)
    # When "agg-a" stops answering and less than a lease goes by
    clock.now += LEASE_S * 0.9
    b.round(SOURCES)
    assert sorted(b.owned) != SOURCES, "a lease that has not expired is not taken"
    # ... and then more than a lease
    clock.now += LEASE_S * 0.2
    with caplog.at_level(logging.WARNING, logger="emostream.aggregator.leases"):
        change = b.round(SOURCES)
    # Then "agg-b" holds every source, and says whose it took and why
    assert sorted(change.acquired) == held_by_a and sorted(b.owned) == SOURCES
    assert "member agg-a silent for" in caplog.text
    assert f"took over source {held_by_a[0]} from agg-a, whose lease expired (it stopped answering)" in caplog.text
    assert rclient.hkeys(Keys(prefix).aggregators) == [b"agg-b"], "the silent member is dropped from the members"


def test_an_aggregator_that_stalled_past_its_lease_learns_it_lost_its_sources(rclient: redis.Redis, prefix: str) -> None:
    # Given "agg-a" alone, then stalled for longer than a lease while "agg-b" took everything
    clock = Clock()
    a, b = leases(rclient, prefix, "agg-a", clock), leases(rclient, prefix, "agg-b", clock)
    a.round(SOURCES)
    clock.now += LEASE_S + 1
    b.round(SOURCES)
    assert sorted(b.owned) == SOURCES
    # When "agg-a" comes back and runs a round
    change = a.round(SOURCES)
    # Then its renewals fail: it knows it lost them all, and takes back only what the plan gives it once they are released
    assert sorted(change.lost) == SOURCES and change.acquired == {}
    assert not set(a.owned) & set(b.owned)


def test_a_stale_owner_counts_nothing_into_a_session_its_successor_counted_into(rclient: redis.Redis, prefix: str) -> None:
    # Given "agg-a" leased cam1 (epoch 1), stalled, and "agg-b" took it over (epoch 2) and counted a face
    clock = Clock()
    keys = Keys(prefix)
    store = SessionStore(rclient, keys, chart_bucket_s=5)
    a, b = leases(rclient, prefix, "agg-a", clock), leases(rclient, prefix, "agg-b", clock)
    a.round(["cam1"])
    clock.now += LEASE_S + 1
    b.round(["cam1"])
    assert (a.fence("cam1"), b.fence("cam1")) == (1, 2)
    first, second = event("s1", 0, 1, "happy"), event("s1", 1, 1, "sad")
    assert store.count_events([first], {"cam1": b.fence("cam1")}) == [1]
    # When the stale owner counts with its old token
    refused = store.count_events([second, first], {"cam1": 1})
    # Then nothing is counted, and the new owner still counts (a duplicate stays a duplicate)
    assert refused == [-1, -1]
    assert store.count_events([second, first], {"cam1": b.fence("cam1")}) == [1, 0]
    assert store.state("s1")["events"] == "2"


def test_a_restarted_aggregator_of_the_same_name_takes_its_leases_back_at_once(rclient: redis.Redis, prefix: str) -> None:
    clock = Clock()
    leases(rclient, prefix, "agg-a", clock).round(SOURCES)
    again = leases(rclient, prefix, "agg-a", clock)
    assert sorted(again.round(SOURCES).acquired) == SOURCES, "its own leases must not wait for their expiry"


def test_leaving_releases_everything_for_the_others_at_once(rclient: redis.Redis, prefix: str) -> None:
    clock = Clock()
    a, b = leases(rclient, prefix, "agg-a", clock), leases(rclient, prefix, "agg-b", clock)
    settle(a, b)
    a.leave()
    assert a.owned == {}
    b.round(SOURCES)
    assert sorted(b.owned) == SOURCES, "released leases are free without waiting for their expiry"
