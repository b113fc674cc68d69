"""Retention (``aggregator.expire_after_s``): events, track events and summaries older than the period are deleted.

A real aggregator on the test session's Redis with a period of a couple of
seconds: a session summarised before the period, one after, and what is left
of each in the public streams and in ``summary_dir``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import redis

from emostream.aggregator.expiry import Expiry
from emostream.aggregator.worker import AggregatorWorker
from tests.aggregator.support import end, event, publish, run_until_summary, start, stepped, track_events

PERIOD_S = 2.0
OLD, NEW = "cam1-20261206T120000Z-0a0a", "cam1-20261206T120100Z-0b0b"


def summarise(worker: AggregatorWorker, rclient: redis.Redis, session: str, emotion: str) -> None:
    start(rclient, worker.keys, session)
    publish(rclient, worker.keys, [event(session, seq, 1, emotion) for seq in range(5)])
    end(rclient, worker.keys, session, faces=5, frames=5)
    run_until_summary(worker, rclient, session)


def sessions_in(rclient: redis.Redis, stream: str) -> set[str]:
    import json

    return {json.loads(fields[b"data"])["session"] for _, fields in rclient.xrange(stream)}


def test_what_is_older_than_the_period_is_deleted_and_the_rest_kept(make_config: Any, rclient: redis.Redis, tmp_path: Path) -> None:
    # Given a session summarised more than the period ago and one just now (by an aggregator that keeps everything),
    config = make_config(aggregator={"reorder_ms": 0, "expire_after_s": PERIOD_S, "expire_every_s": 3600})
    keeper = stepped(make_config(aggregator={"reorder_ms": 0}))
    keys, folder = keeper.keys, config.aggregator.summary_dir
    summarise(keeper, rclient, OLD, "happy")
    (folder / "notes.json").write_text("{}")  # not a summary: never touched
    time.sleep(0.2)
    boundary = time.time()  # everything of OLD is older than this, everything of NEW newer, however slow the machine
    time.sleep(0.2)
    summarise(keeper, rclient, NEW, "sad")
    assert sessions_in(rclient, keys.events("cam1")) == {OLD, NEW}
    # when an aggregator with retention on expires what is due, its clock one period after the boundary,
    done = Expiry(rclient, keys, folder, PERIOD_S, 3600, clock=lambda: boundary + PERIOD_S).run()
    # then the old session's events, track events, summary entry and files are gone, the new one's are all there,
    assert sessions_in(rclient, keys.events("cam1")) == {NEW}, "events older than the period must be trimmed"
    assert {t["session"] for t in track_events(rclient, keys)} == {NEW}
    assert sessions_in(rclient, keys.sessions) == {NEW}
    assert sorted(p.name for p in folder.iterdir()) == sorted(["notes.json", f"{NEW}.json", f"{NEW}.timeline.png"])
    assert done.files == 2 and done.entries >= 5 + 2 + 1, done



def test_the_timer_runs_it_and_retention_is_off_by_default(make_config: Any, rclient: redis.Redis) -> None:
    # Given the default configuration, nothing ever expires,
    worker = stepped(make_config(aggregator={"reorder_ms": 0}))
    summarise(worker, rclient, OLD, "happy")
    assert worker.config.aggregator.expire_after_s is None and worker.expiry.tick() is None
    assert rclient.ttl(worker.keys.session(OLD)) > 86400
    # while with a period, the worker's own loop trims on its timer, and stored summaries live no longer than the period.
    timed = stepped(make_config(aggregator={"reorder_ms": 0, "expire_after_s": PERIOD_S, "expire_every_s": 0.2}))
    summarise(timed, rclient, NEW, "sad")
    assert 0 < rclient.pttl(timed.keys.session(NEW)) <= PERIOD_S * 1000
    time.sleep(PERIOD_S + 0.5)
    for _ in range(3):
        timed.step()
    assert rclient.xlen(timed.keys.events("cam1")) == 0 and rclient.xlen(timed.keys.sessions) == 0, "the loop never trimmed"
