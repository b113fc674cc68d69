"""A classifier replica that stops cleanly leaves no consumer behind, and its queue's length stays its backlog."""

from __future__ import annotations

import threading
from typing import Any

import redis

from emostream.classifier.worker import ClassifierWorker
from emostream.streams.group_commands import backlog
from emostream.streams.keys import CLASSIFIER_GROUP
from tests.helpers import face_job, wait_for


def consumers(client: redis.Redis, stream: str) -> dict[str, int]:
    return {c["name"].decode(): int(c["pending"]) for c in client.xinfo_consumers(stream, CLASSIFIER_GROUP)}


def test_a_replica_that_stops_cleanly_deletes_its_consumer(make_config: Any, rclient: redis.Redis) -> None:
    # Given a replica that classified faces and dead-lettered a malformed entry
    config = make_config(classifier={"model": "mini-xception", "batch_max": 8, "batch_wait_ms": 10})
    worker = ClassifierWorker(config, consumer="replica-7", http_port=-1)
    keys = worker.keys
    for seq in range(4):
        rclient.xadd(keys.faces, face_job(seq=seq).encode())
    rclient.xadd(keys.faces, {"v": "1", "data": "not json"})
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: rclient.xlen(keys.events("cam1")) == 4 and rclient.xlen(keys.deadletter) == 1, 60, "the faces were not handled")
        assert "replica-7" in consumers(rclient, keys.faces)
        # Then the queue holds nothing: finished faces and the dead letter were deleted, so XLEN is the backlog
        assert backlog(rclient, keys.faces, CLASSIFIER_GROUP, acked_deleted=True) == 0 == backlog(rclient, keys.faces, CLASSIFIER_GROUP)
    finally:
        # When it is stopped (as by SIGTERM)
        worker.stop.set()
        thread.join(60)
    assert not thread.is_alive(), "the replica did not stop"
    # Then its consumer is gone from the group
    assert "replica-7" not in consumers(rclient, keys.faces), consumers(rclient, keys.faces)
