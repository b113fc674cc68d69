"""The session's cluster is a real one: three masters, every slot covered, keys spread over the nodes."""

from __future__ import annotations

import redis

from tests.support.cluster import RedisClusterServer


def test_the_cluster_has_three_masters_and_covers_every_slot(redis_cluster: RedisClusterServer, cclient: redis.RedisCluster) -> None:
    info = redis_cluster.nodes[0].client().execute_command("CLUSTER INFO")
    assert info["cluster_state"] == "ok" and int(info["cluster_slots_assigned"]) == 16384, info
    assert len(redis_cluster.masters()) == 3, "the fixture should start three masters"
    owners = {redis_cluster.master_of(f"k{i}").port for i in range(30)}
    assert len(owners) == 3, f"30 keys should land on all three masters, got {owners}"
