"""A script batch on a cluster whose client's default node is the master a failover removed still goes through.

redis-py's cluster pipeline looks up an ``EVALSHA``'s keys on the client's
default node and never moves that default off a node that is gone; the
failover test caught an aggregator retrying its lease batch against the dead
master forever. :class:`ClusterScriptPipeline` moves the default when a batch cannot
connect; here the default is made the victim on purpose, so the case is
exercised every run, not by chance.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis
from redis.commands.core import Script

from emostream.streams.scripts import ScriptCall, script_pipeline
from tests.support.cluster import RedisClusterServer

INCR = "return redis.call('INCRBY', KEYS[1], ARGV[1])"


@pytest.fixture
def replicated_cluster() -> Iterator[RedisClusterServer]:
    cluster = RedisClusterServer(masters=3, replicas=1, node_timeout_ms=1000).start()
    yield cluster
    cluster.stop()


def test_a_script_batch_recovers_when_the_default_node_was_the_killed_master(replicated_cluster: RedisClusterServer) -> None:
    # Given a cluster client whose default node is the master that is about to die, and a key another master serves,
    client = redis.RedisCluster.from_url(replicated_cluster.url)
    script: Script = client.register_script(INCR)
    key = next(f"counter-{i}" for i in range(1000) if replicated_cluster.master_of(f"counter-{i}").port != replicated_cluster.master_of("victim").port)
    victim = replicated_cluster.master_of("victim")
    client.replace_default_node(next(n for n in client.get_primaries() if n.port == victim.port))
    batch = script_pipeline(client)
    batch.add(ScriptCall(script, [key], [1]))
    assert batch.execute() == [1]
    # when that master is killed and its replica promoted,
    victim.kill()
    replicated_cluster.wait_ok(60)
    # then a script batch, retried as the workers retry (on connection errors), goes through within a few attempts.
    attempts, deadline = 0, time.monotonic() + 30
    while True:
        attempts += 1
        batch = script_pipeline(client)
        batch.add(ScriptCall(script, [key], [1]))
        try:
            assert batch.execute() == [2]
            break
        except (redis.ConnectionError, redis.TimeoutError, redis.exceptions.ClusterDownError) as exc:
            assert time.monotonic() < deadline, f"still failing after {attempts} attempts: {exc}"
            time.sleep(0.2)
    assert attempts <= 5, f"{attempts} attempts"
    client.close()
