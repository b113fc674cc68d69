"""An aggregator that stalled past its lease counts nothing more once its successor has counted (real Redis, fake clocks)."""

from __future__ import annotations

import time
from typing import Any

import redis

from emostream.aggregator.worker import AggregatorWorker
from emostream.streams.keys import AGGREGATOR_GROUP
from tests.aggregator.support import end, event, publish, run_until_summary, start, step


def events_total(worker: AggregatorWorker) -> float:
    return sum(worker.registry.get_sample_value("emostream_aggregator_events_total", {"source": "cam1", "emotion": e}) or 0
               for e in ("happy", "sad"))


def test_a_stalled_owner_is_fenced_off_and_its_successor_counts_every_face_once(make_config: Any, rclient: redis.Redis) -> None:
    # Given "agg-a" leasing cam1 and counting the first faces of a session
    config = make_config(aggregator={"lease_s": 5, "reorder_ms": 0, "claim_idle_ms": 200})
    now_a, now_b = [1_000_000.0], [1_000_000.0]
    a = AggregatorWorker(config, consumer="agg-a", clock=lambda: now_a[0])
    keys = a.keys
    start(rclient, keys, "s-fence")
    faces = [event("s-fence", seq, 1, "happy" if seq < 10 else "sad") for seq in range(30)]
    publish(rclient, keys, faces[:10])
    step(a, 2)
    assert a.counted == 10 and a.leases.fence("cam1") == 1
    # When "agg-a" stalls past its lease, "agg-b" takes cam1 over (epoch 2) and counts the next faces
    b = AggregatorWorker(config, consumer="agg-b", clock=lambda: now_b[0])
    now_b[0] += 6
    publish(rclient, keys, faces[10:20])
    step(b, 2)
    assert b.leases.fence("cam1") == 2 and b.counted == 10
    # ... and "agg-a" wakes up and reads more faces before its next lease round
    a._last_refresh = time.monotonic() + 3600
    publish(rclient, keys, faces[20:])
    a._step()
    # Then "agg-a" counted none of them, stopped reading cam1 and acknowledged nothing
    assert a.counted == 10 and "cam1" not in a.leases.owned and keys.events("cam1") not in a.streams
    assert rclient.xpending(keys.events("cam1"), AGGREGATOR_GROUP)["pending"] >= 10, "its read stays pending for the new owner"
    # ... and "agg-b" claims them, counts them once and summarises the session with every face
    end(rclient, keys, "s-fence", faces=30, frames=30)
    summary = run_until_summary(b, rclient, "s-fence")
    assert summary["faces"] == 30, f"counted {summary['faces']} of 30"
    assert events_total(a) + events_total(b) == 30, "summed over aggregators, the counters equal the faces"
