"""The aggregator against a real Redis: counting, duplicates, summaries, restarts."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import redis

from emostream.aggregator.summary import frames_line, shares_text
from emostream.infra.emotions import EMOTIONS
from emostream.streams.events import build_event, encode_event, event_from_json
from emostream.streams.keys import Keys
from emostream.streams.lifecycle import SessionEnd, SessionStart, encode_lifecycle
from tests.aggregator.support import run_until_summary, stepped
from tests.helpers import face_job


def publish_session(rclient: redis.Redis, keys: Keys, session: str, labels: list[str], duplicate_first: bool = False) -> list[str]:
    """A session of one track whose faces carry ``labels``; returns the event ids."""
    now = time.time()
    rclient.sadd(keys.sources, "cam1")
    rclient.xadd(keys.lifecycle, encode_lifecycle(SessionStart("cam1", session, now, "cam.mp4")))
    ids = []
    for seq, label in enumerate(labels):
        probs = np.full(7, 0.01, np.float32)
        probs[EMOTIONS.index(label)] = 0.94
        event = build_event(face_job(session=session, seq=seq, track=1), probs, "m", "1", 1.0, 2.0, now)
        rclient.xadd(keys.events("cam1"), encode_event(event))
        ids.append(event.event_id)
        if duplicate_first and seq == 0:
            rclient.xadd(keys.events("cam1"), encode_event(event))
    end = SessionEnd("cam1", session, now, now + 1, "eof", len(labels) + 2, 1, 0, len(labels), 0, frames_skipped=30)
    rclient.xadd(keys.lifecycle, encode_lifecycle(end))
    return ids


def test_summary_counts_equal_the_events_and_duplicates_are_dropped(make_config: Any, rclient: redis.Redis) -> None:
    worker = stepped(make_config())
    labels = ["happy"] * 6 + ["sad"] * 2 + ["neutral"] * 2
    publish_session(rclient, worker.keys, "cam1-s1", labels, duplicate_first=True)
    summary = run_until_summary(worker, rclient, "cam1-s1")
    assert summary["faces"] == 10, "the duplicate must not be counted"
    assert summary["emotions"]["counts"]["happy"] == 6 and summary["emotions"]["counts"]["sad"] == 2
    assert summary["emotions"]["share"]["happy"] == 0.6
    assert summary["track_summaries"][0]["dominant"] == "happy"
    assert summary["frames"] == {"analysed": 12, "skipped": 30, "dropped": 1, "failed": 0, "dropped_for_age": 0}
    assert frames_line(summary["frames"]) == "frames analysed 12, skipped 30, dropped 1, failed 0"
    assert shares_text([("happy", 0.6), ("sad", 0.2), ("neutral", 0.2), ("fear", 0.004)]) == "happy 60%, sad 20%, neutral 20%"
    assert shares_text([]) == "no faces"
    assert worker.registry.get_sample_value("emostream_aggregator_duplicate_events_total", {"source": "cam1"}) == 1
    assert worker.registry.get_sample_value("emostream_aggregator_events_total", {"source": "cam1", "emotion": "happy"}) == 6
    published = [json.loads(f[b"data"]) for _, f in rclient.xrange(worker.keys.sessions)]
    assert [s["session"] for s in published] == ["cam1-s1"], "one summary on the sessions stream"
    folder = Path(worker.config.aggregator.summary_dir)
    assert json.loads((folder / "cam1-s1.json").read_text()) == summary
    assert (folder / "cam1-s1.timeline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_restarted_aggregator_counts_nothing_twice(make_config: Any, rclient: redis.Redis) -> None:
    config = make_config()
    first = stepped(config, consumer="agg")
    keys = first.keys
    publish_session(rclient, keys, "cam1-s2", ["happy"] * 5)
    first.resume()
    # The first aggregator counts the events of one round but dies before acknowledging them.
    first.store.count_events([event_from_json(f[b"data"]) for _, f in rclient.xrange(keys.events("cam1"))[:3]], first.leases.owned)
    rclient.xreadgroup("aggregators", "agg", {keys.events("cam1"): ">"}, count=3)
    second = stepped(config, consumer="agg")
    second.resume()
    summary = run_until_summary(second, rclient, "cam1-s2")
    assert summary["faces"] == 5, f"expected 5 faces, counted {summary['faces']}"


def test_a_session_whose_events_never_arrive_is_summarised_after_the_grace(make_config: Any, rclient: redis.Redis) -> None:
    worker = stepped(make_config(aggregator={"end_grace_s": 0.5}))
    keys = worker.keys
    now = time.time()
    rclient.sadd(keys.sources, "cam1")
    rclient.xadd(keys.lifecycle, encode_lifecycle(SessionEnd("cam1", "cam1-s3", now, now + 1, "eof", 3, 0, 0, 4, 0)))
    summary = run_until_summary(worker, rclient, "cam1-s3")
    assert summary["faces"] == 0 and summary["faces_expected"] == 4


def test_a_malformed_event_is_dead_lettered_and_counted(make_config: Any, rclient: redis.Redis) -> None:
    worker = stepped(make_config())
    keys = worker.keys
    rclient.sadd(keys.sources, "cam1")
    rclient.xadd(keys.events("cam1"), {"v": "1", "data": json.dumps({"event_id": "x"})})
    worker.step()
    dead = rclient.xrange(keys.deadletter)
    assert len(dead) == 1 and b"without" in dead[0][1][b"reason"]
    assert worker.registry.get_sample_value("emostream_aggregator_deadletters_total", {"reason": "malformed"}) == 1
