"""``python -m benchmarks.outbox``: the classifier's commit alone, on one Redis and on a local 3-master cluster.

Each round commits one batch (``--batch`` faces from ``--sources`` sources, one
of them dropped as too old) that a consumer holds pending in one faces shard:
on one Redis ``ScriptCommit`` (one Lua call), on the cluster ``ClusterCommit``
(the guarded Lua publish per source, the drop notice, then XACK+XDEL). Only the commit is timed; filling the shard and
reading the batch are not. Prints faces/s committed, best of ``--repeat``.
The cluster is started like the tests' (``tests/support/cluster.py``), so run
this from the repository root.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import Any

import redis

from emostream.classifier.cluster_commit import ClusterCommit, guard_window_ms
from emostream.classifier.commit import Classified, Commit, Dropped, ScriptCommit
from emostream.streams.group_commands import ensure_group
from emostream.streams.keys import CLASSIFIER_GROUP, Keys
from tests.conftest import RedisServer
from tests.support.cluster import RedisClusterServer

EVENT = b'{"event_id":"x","emotion":{"label":"neutral","confidence":0.9}}' + b" " * 700  # about a real event's size


def rounds(client: Any, keys: Keys, commit: Commit, shard: str, batch: int, sources: int, n: int, tag: str) -> float:
    """Faces/s over ``n`` commits (``client``: either kind)."""
    ensure_group(client, shard, CLASSIFIER_GROUP)
    spent = 0.0
    for r in range(n):
        pipe = client.pipeline(transaction=False)
        for _ in range(batch):
            pipe.xadd(shard, {"crop": b"x" * 4096})
        pipe.execute()
        reply = client.xreadgroup(CLASSIFIER_GROUP, "bench", {shard: ">"}, count=batch)
        ids = [eid for eid, _ in reply[0][1]]
        events = [Classified(shard, eid, f"cam{i % sources}", f"{tag}-cam{i % sources}-s:{r}:{i}", EVENT) for i, eid in enumerate(ids[1:])]
        stale = [Dropped(shard, ids[0], "cam0", "cam0-s", f"{tag}-cam0-s:{r}:x")]
        began = time.perf_counter()
        commit(events, stale)
        spent += time.perf_counter() - began
    return n * batch / spent


def best(measure: Callable[[int], float], repeat: int) -> float:
    return max(measure(k) for k in range(repeat))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.outbox", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--sources", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    single, cluster = RedisServer().start(), RedisClusterServer(masters=3).start()
    try:
        keys = Keys("bench")
        one = redis.Redis.from_url(single.url)
        many = redis.RedisCluster.from_url(cluster.url)
        single_commit = ScriptCommit(one, keys, CLASSIFIER_GROUP, 100_000)
        cluster_commit = ClusterCommit(many, keys, CLASSIFIER_GROUP, 100_000, guard_window_ms(10_000, 3))  # type: ignore[arg-type]
        shard = keys.face_shards(6)[0]
        a = best(lambda k: rounds(one, keys, single_commit, keys.faces, args.batch, args.sources, args.rounds, f"s{k}"), args.repeat)
        b = best(lambda k: rounds(many, keys, cluster_commit, shard, args.batch, args.sources, args.rounds, f"c{k}"), args.repeat)
        guard = many.memory_usage(keys.published(keys.events("cam0"), int(time.time() * 1000) // guard_window_ms(10_000, 3)))
        members = many.scard(keys.published(keys.events("cam0"), int(time.time() * 1000) // guard_window_ms(10_000, 3)))
    finally:
        cluster.stop()
        single.stop()
    load = f"load (1 min) {load_before:.2f} before, {os.getloadavg()[0]:.2f} after"
    print(f"batch {args.batch} faces from {args.sources} sources, best of {args.repeat} × {args.rounds} commits; {load}")
    print(f"single Redis, one Lua call:           {a:9,.0f} faces/s committed")
    print(f"3-master cluster, guarded Lua + acks: {b:9,.0f} faces/s committed ({b / a:.2f}× single)")
    if guard and members:
        print(f"guard set: {members} ids in {guard} bytes = {guard / members:.0f} bytes per id (ids like 'cam0-…-s:12:3')")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
