"""While the loop is busy finishing sessions, the lease keeper renews the member and its leases; not forever."""

from __future__ import annotations

import time

import redis

from emostream.aggregator.keepalive import LeaseKeeper
from emostream.aggregator.leases import SourceLeases
from emostream.streams.keys import Keys


def heartbeat(rclient: redis.Redis, keys: Keys, member: str) -> float:
    return float(rclient.hget(keys.aggregators, member) or 0)


def test_a_busy_loop_keeps_its_member_and_leases_and_a_stuck_one_loses_them(rclient: redis.Redis, prefix: str) -> None:
    keys = Keys(prefix)
    leases = SourceLeases(rclient, keys, "agg-busy", lease_s=1.0)
    leases.round(["cam1"])
    assert set(leases.owned) == {"cam1"}
    keeper = LeaseKeeper(leases, limit_s=3.0).start()
    try:
        with keeper.busy():
            # Busy for twice the lease: the heartbeat and the lease stay fresh
            began = time.time()
            time.sleep(2.0)
            assert time.time() - heartbeat(rclient, keys, "agg-busy") < 1.0
            deadline = int(rclient.get(keys.agg_lease("cam1")).decode().rsplit(" ", 1)[1])
            assert deadline / 1000 > began + 1.5, "the lease should have been renewed while busy"
            # Busy past the limit: the keeper gives up, as if the loop were stuck
            time.sleep(3.0)
            assert time.time() - heartbeat(rclient, keys, "agg-busy") > 1.0
    finally:
        keeper.stop()
