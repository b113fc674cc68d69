"""Faces a classifier dropped as too old: counted once, never as events, and the session still closes on time."""

from __future__ import annotations

import time
from typing import Any

import redis

from emostream.streams.lifecycle import FacesDropped, encode_lifecycle
from tests.aggregator.support import stepped
from tests.aggregator.test_aggregator_redis import publish_session, run_until_summary


def test_events_plus_dropped_faces_close_the_session_without_waiting_for_the_grace(make_config: Any, rclient: redis.Redis) -> None:
    # Given a session whose ingest announced 10 faces, of which 6 became events and 4 were dropped as too old,
    worker = stepped(make_config(aggregator={"end_grace_s": 600}))
    ids = publish_session(rclient, worker.keys, "cam1-s1", ["happy"] * 10)
    events = rclient.xrange(worker.keys.events("cam1"))
    rclient.xdel(worker.keys.events("cam1"), *[eid for eid, _ in events[6:]])  # those 4 never were events
    dropped = FacesDropped("cam1", "cam1-s1", "age", tuple(ids[6:]))
    rclient.xadd(worker.keys.lifecycle, encode_lifecycle(dropped))
    rclient.xadd(worker.keys.lifecycle, encode_lifecycle(dropped))  # a repeated announcement counts nothing twice
    # when the aggregator runs,
    began = time.monotonic()
    summary = run_until_summary(worker, rclient, "cam1-s1")
    # then the summary closes at once (not after the 600 s grace) and adds up.
    assert time.monotonic() - began < 15, "the aggregator waited for events that were dropped"
    assert (summary["faces"], summary["faces_dropped"], summary["faces_expected"]) == (6, 4, 10), summary
    assert summary["emotions"]["counts"]["happy"] == 6, "a dropped face is never counted as an emotion"


def test_a_face_announced_both_as_an_event_and_as_dropped_is_counted_once(make_config: Any, rclient: redis.Redis) -> None:
    """Cannot happen with one classifier MULTI per batch, but the counts must survive it: whichever arrives first wins."""
    worker = stepped(make_config(aggregator={"end_grace_s": 600}))
    ids = publish_session(rclient, worker.keys, "cam1-s2", ["sad"] * 3)
    rclient.xadd(worker.keys.lifecycle, encode_lifecycle(FacesDropped("cam1", "cam1-s2", "age", (ids[0],))))
    summary = run_until_summary(worker, rclient, "cam1-s2")
    assert summary["faces"] + summary["faces_dropped"] == 3, summary
    assert summary["emotions"]["counts"]["sad"] == summary["faces"], summary
