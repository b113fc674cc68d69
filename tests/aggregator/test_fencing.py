"""An aggregator that stalled past its lease counts nothing more once its successor has counted (real Redis, fake clocks)."""

from __future__ import annotations

import time
from typing import Any

import redis

from emostream.aggregator.worker import AggregatorWorker
from emostream.streams.keys import AGGREGATOR_GROUP
from tests.aggregator.support import end, event, publish, run_until_summary, start, step, stepped


def events_total(worker: AggregatorWorker) -> float:
    return sum(worker.registry.get_sample_value("emostream_aggregator_events_total", {"source": "cam1", "emotion": e}) or 0
               for e in ("happy", "sad"))


def test_a_stalled_owner_is_fenced_off_and_its_successor_counts_every_face_once(make_config: Any, rclient: redis.Redis) -> None:
    # Given "agg-a" leasing cam1 and counting the first faces of a session
    config = make_config(aggregator={"lease_s": 5, "reorder_ms": 0, "claim_idle_ms": 200})
    now_a, now_b = [1_000_000.0], [1_000_000.0]
    # (its pacing clock stands still: its first step runs a lease round, later ones none)
    a = stepped(config, lambda: 0.0, consumer="agg-a", clock=lambda: now_a[0])
    keys = a.keys
    start(rclient, keys, "s-fence")
    faces = [event("s-fence", seq, 1, "happy" if seq < 10 else "sad") for seq in range(30)]
    publish(rclient, keys, faces[:10])
    step(a, 2)
    assert a.counted == 10 and a.leases.fence("cam1") == 1
    # When "agg-a" stalls past its lease, "agg-b" takes cam1 over (epoch 2) and counts the next faces
    b = stepped(config, consumer="agg-b", clock=lambda: now_b[0])
    now_b[0] += 6
    publish(rclient, keys, faces[10:20])
    step(b, 2)
    assert b.leases.fence("cam1") == 2 and b.counted == 10
    # ... and "agg-a" wakes up and reads more faces before its next lease round
    publish(rclient, keys, faces[20:])
    a.step()
    # Then "agg-a" counted none of them, stopped reading cam1 and acknowledged nothing
    assert a.counted == 10 and "cam1" not in a.leases.owned and keys.events("cam1") not in a.streams
    assert rclient.xpending(keys.events("cam1"), AGGREGATOR_GROUP)["pending"] >= 10, "its read stays pending for the new owner"
    # ... and "agg-b" claims them, counts them once and summarises the session with every face
    end(rclient, keys, "s-fence", faces=30, frames=30)
    summary = run_until_summary(b, rclient, "s-fence")
    assert summary["faces"] == 30, f"counted {summary['faces']} of 30"
    assert events_total(a) + events_total(b) == 30, "summed over aggregators, the counters equal the faces"


def test_lifecycle_messages_a_dead_aggregator_read_are_handled_once_it_is_dropped(make_config: Any, rclient: redis.Redis) -> None:
    # Given "agg-a" counting a session alone, which then read the session's end message and died
    config = make_config(aggregator={"lease_s": 1, "reorder_ms": 0, "claim_idle_ms": 60_000})
    now = [1_000_000.0]
    a = stepped(config, consumer="agg-a", clock=lambda: now[0])
    keys = a.keys
    start(rclient, keys, "s-life")
    publish(rclient, keys, [event("s-life", seq, 1, "happy") for seq in range(5)])
    step(a, 2)
    end(rclient, keys, "s-life", faces=5, frames=5)
    rclient.xreadgroup(AGGREGATOR_GROUP, "agg-a", {keys.lifecycle: ">"}, count=10)
    time.sleep(1.1)  # its pending entries have been idle for a lease (Redis's clock)
    # When "agg-b" starts a lease later (its clock), drops "agg-a" and takes cam1
    now[0] += 2
    b = stepped(config, consumer="agg-b", clock=lambda: now[0])
    summary = run_until_summary(b, rclient, "s-life", timeout=10)
    # Then the end message was handled by "agg-b" without waiting for claim_idle_ms (60 s)
    assert summary["faces"] == 5 and summary["faces_expected"] == 5
    assert (b.registry.get_sample_value("emostream_aggregator_claimed_total") or 0) >= 1
    assert rclient.xpending(keys.lifecycle, AGGREGATOR_GROUP)["pending"] == 0
