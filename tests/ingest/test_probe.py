"""The queue probe against a real Redis: backlog, and the age of the oldest undelivered face from its entry id."""

from __future__ import annotations

import redis

from emostream.ingest.probe import read_queue
from emostream.keys import CLASSIFIER_GROUP, Keys
from emostream.redis_io import ensure_group


def test_the_age_is_that_of_the_oldest_undelivered_face_once_a_classifier_has_joined(rclient: redis.Redis, prefix: str) -> None:
    faces = Keys(prefix).faces
    ensure_group(rclient, faces, CLASSIFIER_GROUP)
    ms = int(rclient.time()[0] * 1000)
    for offset in (3_000, 2_000, 1_000):  # enqueued 3, 2 and 1 s ago
        rclient.xadd(faces, {"v": "1"}, id=f"{ms - offset}-0")
    # Before any classifier joined: only the size counts.
    assert read_queue(rclient, faces, CLASSIFIER_GROUP).oldest_age_ms == 0.0
    # A classifier takes the oldest face; the oldest one still waiting is 2 s old.
    rclient.xreadgroup(CLASSIFIER_GROUP, "c1", {faces: ">"}, count=1)
    state = read_queue(rclient, faces, CLASSIFIER_GROUP)
    assert state.backlog == 3, state
    assert 1_950 <= state.oldest_age_ms <= 2_500, state
    rclient.xreadgroup(CLASSIFIER_GROUP, "c1", {faces: ">"}, count=10)
    assert read_queue(rclient, faces, CLASSIFIER_GROUP).oldest_age_ms == 0.0, "faces in a classifier's hands do not count"


def test_no_stream_yet_is_an_empty_queue(rclient: redis.Redis, prefix: str) -> None:
    state = read_queue(rclient, Keys(prefix).faces, CLASSIFIER_GROUP)
    assert (state.backlog, state.oldest_age_ms) == (0, 0.0)
