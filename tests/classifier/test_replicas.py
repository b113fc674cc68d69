"""Two real classifier replicas in one consumer group; one dies holding faces."""

from __future__ import annotations

import json
import signal
import time
from typing import Any

import pytest
import redis

from emostream.streams.keys import CLASSIFIER_GROUP, Keys
from tests.classifier.procs import Procs, healthy, metric, scrape
from tests.conftest import free_port
from tests.helpers import face_job

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

CLAIM_IDLE_MS = 1000


def consumers(client: redis.Redis, keys: Keys) -> dict[str, int]:
    """Pending entries per consumer of the classifier group."""
    try:
        infos = client.xinfo_consumers(keys.faces, CLASSIFIER_GROUP)
    except redis.ResponseError:
        return {}
    return {info["name"].decode() if isinstance(info["name"], bytes) else info["name"]: int(info["pending"]) for info in infos}


def test_faces_held_by_a_killed_replica_are_classified_once_by_the_other(
    make_config: Any, procs: Procs, rclient: redis.Redis
) -> None:
    # Given two replicas: "holder" waits up to 10 s for a batch of 64 to fill, so it
    # sits on whatever it reads; "survivor" is an ordinary replica.
    common = {"model": "mini-xception", "claim_idle_ms": CLAIM_IDLE_MS, "max_deliveries": 3}
    holder_port, survivor_port = free_port(), free_port()
    holder = make_config(classifier={**common, "batch_max": 64, "batch_wait_ms": 10_000}, http={"classifier_port": holder_port})
    survivor = make_config(classifier={**common, "batch_max": 16, "batch_wait_ms": 10}, http={"classifier_port": survivor_port})
    keys = Keys(holder.redis.prefix)
    procs.start("holder", holder, "classify", "--consumer", "holder")
    procs.start("survivor", survivor, "classify", "--consumer", "survivor")
    procs.wait_for(lambda: healthy(holder_port) and healthy(survivor_port), 120, "both replicas are up")

    # The survivor is paused (and its blocking read given time to expire), so the
    # holder alone reads the faces.
    procs.running["survivor"].send_signal(signal.SIGSTOP)
    time.sleep(0.6)
    jobs = [face_job(seq=seq, track=track) for seq in range(20) for track in (1, 2)]
    pipe = rclient.pipeline()
    for job in jobs:
        pipe.xadd(keys.faces, job.encode())
    pipe.execute()
    procs.wait_for(lambda: consumers(rclient, keys).get("holder") == len(jobs), 20, f"the holder took all {len(jobs)} faces")

    # When the holder is killed while holding them and the survivor carries on,
    procs.kill("holder")
    killed_at = time.monotonic()
    procs.running["survivor"].send_signal(signal.SIGCONT)

    # then every face gets exactly one event, soon after the claim idle time.
    def events() -> list[dict[str, Any]]:
        return [json.loads(fields[b"data"]) for _, fields in rclient.xrange(keys.events("cam1"))]

    procs.wait_for(lambda: len(events()) >= len(jobs), 60, f"{len(jobs)} events came after the holder died")
    recovered_s = time.monotonic() - killed_at
    time.sleep(CLAIM_IDLE_MS / 1000 + 0.5)  # anything published twice would show up by now
    ids = [event["event_id"] for event in events()]
    assert sorted(ids) == sorted(job.event_id for job in jobs), "each face must have exactly one event, none lost, none doubled"
    assert rclient.xpending(keys.faces, CLASSIFIER_GROUP)["pending"] == 0, "every claimed face must be acknowledged"
    assert rclient.xlen(keys.deadletter) == 0, "nothing should be dead-lettered: each face was delivered twice at most"
    samples = scrape(survivor_port)
    assert metric(samples, "emostream_classifier_claimed_total") == len(jobs), "the survivor claimed every face the holder held"
    assert metric(samples, "emostream_classifier_faces_total", outcome="classified") == len(jobs)
    # Claimable after claim_idle_ms, looked for every claim_idle_ms / 2: allow for a busy machine.
    assert recovered_s < CLAIM_IDLE_MS / 1000 + 10, f"recovery took {recovered_s:.1f} s"
    print(f"faces of the killed replica classified {recovered_s:.2f} s after the kill (claim_idle_ms {CLAIM_IDLE_MS})")
