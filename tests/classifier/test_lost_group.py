"""A classifier whose consumer group vanished (Redis restarted without persistence) recreates it and goes on."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis

from emostream.classifier.worker import ClassifierWorker
from emostream.streams.keys import CLASSIFIER_GROUP
from tests.helpers import face_job, wait_for


@pytest.fixture
def worker(make_config: Any) -> Iterator[ClassifierWorker]:
    w = ClassifierWorker(make_config(classifier={"model": "mini-xception", "batch_wait_ms": 10}), consumer="c1")
    yield w
    w.runtime.close()


def test_faces_after_the_group_vanished_are_classified(worker: ClassifierWorker, rclient: redis.Redis) -> None:
    # Given a running classifier whose work queue and group were lost (as after an empty restart)
    keys = worker.keys
    worker.step()
    rclient.delete(keys.faces)
    # When ingest publishes again (which recreates the stream, but not the group)
    rclient.xadd(keys.faces, face_job(seq=1).encode())
    # Then the classifier recreates its group, without an error escaping a step, and classifies the face
    wait_for(lambda: (worker.step(), rclient.xlen(keys.events("cam1")))[1], 20, "the face after the loss was not classified")
    assert [g["name"] for g in rclient.xinfo_groups(keys.faces)] == [CLASSIFIER_GROUP.encode()]
    assert worker.reader.recreated >= 1
