"""Hostile messages beside good sessions, on a real Redis, through a real classifier and aggregator.

Hypothesis writes batches of bad entries (see ``entries``) with XADD among
the entries of good sessions; the classifier and the aggregator run their own
``run()`` loops in threads. After each batch: every good session is
summarised exactly once, every bad entry is dead-lettered exactly once (the
dead-letter stream and the two roles' counters agree), and the process's
memory stays within a bound. ``EMOSTREAM_HOSTILE_EXAMPLES`` sets the number of
batches (default 12, about 40 s); the 5-minute soak beside ``emostream run``
is ``scripts/soak_hostile.py`` (docs/SOAK.md).
"""

from __future__ import annotations

import itertools
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from emostream.aggregator.worker import AggregatorWorker
from emostream.classifier.worker import ClassifierWorker
from emostream.infra.worker import Worker
from emostream.streams.keys import Keys
from emostream.streams.records import decode_summary
from tests.helpers import wait_for
from tests.hostile.entries import Bad, bad_entries, good_session, write

EXAMPLES = int(os.environ.get("EMOSTREAM_HOSTILE_EXAMPLES", "12"))
RSS_GROWTH_MAX_MB = 150  # over all batches, after the first (the model and Redis clients are loaded by then)

pytestmark = pytest.mark.timeout(60 + EXAMPLES * 30)


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def dead_letter_count(registry: CollectorRegistry, role: str) -> float:
    return sum(
        sample.value for metric in registry.collect() for sample in metric.samples
        if sample.name == f"emostream_{role}_deadletters_total"
    )


def summarised(client: redis.Redis, keys: Keys) -> Counter[str]:
    return Counter(decode_summary(fields).session for _, fields in client.xrange(keys.sessions))


@pytest.fixture
def workers(make_config: Any) -> Iterator[tuple[ClassifierWorker, AggregatorWorker]]:
    config = make_config(
        classifier={"model": "mini-xception", "batch_max": 16, "batch_wait_ms": 10, "claim_idle_ms": 300},
        aggregator={"end_grace_s": 1.0, "claim_idle_ms": 500, "reorder_ms": 100},
    )
    classifier = ClassifierWorker(config, http_port=-1, consumer="c1")
    aggregator = AggregatorWorker(config, http_port=-1, consumer="a1")
    threads = [threading.Thread(target=w.run, name=w.role, daemon=True) for w in (classifier, aggregator)]
    for thread in threads:
        thread.start()
    yield classifier, aggregator
    for w in (classifier, aggregator):
        w.stop.set()
    for thread in threads:
        thread.join(timeout=20)
    classifier.runtime.close()


def alive(*roles: Worker) -> None:
    assert all(not w.stop.is_set() for w in roles)


def test_bad_entries_are_dead_lettered_once_and_good_sessions_summarised_once(
    workers: tuple[ClassifierWorker, AggregatorWorker], rclient: redis.Redis
) -> None:
    classifier, aggregator = workers
    keys = aggregator.keys
    rounds = itertools.count()
    written: list[Bad] = []
    rss: list[float] = []

    # No shrinking: the workers and Redis keep their state between examples, so a replay is not the same test.
    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck), phases=[Phase.generate])
    @given(st.lists(bad_entries("cam1") | bad_entries("cam2"), min_size=1, max_size=10), st.randoms())
    def batch(bads: list[Bad], rnd: random.Random) -> None:
        n = next(rounds)
        goods = [f"cam1-good-{n}", f"cam2-good-{n}", f"cam3-{n:06d}".ljust(128, "e")]  # the last: an id at the rule's edge
        # Given good sessions with hostile entries written among theirs, in any order
        steps = [lambda s=s: good_session(rclient, keys, s.split("-")[0], s, 3) for s in goods]
        steps += [lambda b=b: write(rclient, keys, b) for b in bads]
        rnd.shuffle(steps)
        for run in steps:
            run()
        written.extend(bads)
        expected = {"classifier": sum(b.kind == "classifier" for b in written), "aggregator": sum(b.kind == "aggregator" for b in written)}

        # When the roles have taken everything in
        def settled() -> bool:
            done = summarised(rclient, keys)
            counted = {role: dead_letter_count(w.registry, role) for role, w in (("classifier", classifier), ("aggregator", aggregator))}
            return all(done[s] >= 1 for s in goods) and counted == expected

        wait_for(settled, 30, f"batch {n}: {len(bads)} bad entries, good sessions {goods}", interval=0.2)
        # Then each good session was summarised once, each bad entry dead-lettered once, and both roles still run
        done = summarised(rclient, keys)
        assert [s for s in goods if done[s] != 1] == [], done
        letters = [(f[b"stream"], f[b"id"]) for _, f in rclient.xrange(keys.deadletter)]
        assert len(letters) == len(written) and len(set(letters)) == len(letters), "each bad entry dead-lettered exactly once"
        assert rclient.smembers(keys.open_sessions) == set(), "no bad entry left a session open"
        alive(classifier, aggregator)
        rss.append(rss_mb())

    batch()
    assert rss[-1] - rss[0] < RSS_GROWTH_MAX_MB, f"RSS grew from {rss[0]:.0f} to {rss[-1]:.0f} MB over {len(rss)} batches"
    time.sleep(0)
