"""A session that cannot be finished never holds up another session, the loop, or a restarted aggregator.

Runs a real aggregator (stepped in-process) on the test Redis: one session's
chart or summary fails, the session beside it is summarised, the failing one
is finished without the failed part (or dead-lettered) after a bounded number
of tries, counted, and logged once.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from emostream.streams.lifecycle import FacesDropped, encode_lifecycle
from tests.aggregator.support import event, publish, run_until_summary, step, stepped, stored_summary
from tests.hostile.support import sample, session

pytestmark = pytest.mark.timeout(120)


def test_a_chart_that_cannot_be_written_does_not_hold_up_the_next_session(
    make_config: Any, rclient: redis.Redis, no_wait: None, caplog: pytest.LogCaptureFixture
) -> None:
    # Given two ended sessions, the first of which cannot have its chart (a directory holds its name)
    config = make_config(aggregator={"reorder_ms": 0})
    folder = Path(config.aggregator.summary_dir)
    (folder / "cam1-a.timeline.png").mkdir(parents=True)
    worker = stepped(config)
    session(rclient, worker, "cam1-a")
    session(rclient, worker, "cam1-b")
    # When the aggregator runs
    with caplog.at_level(logging.INFO):
        second = run_until_summary(worker, rclient, "cam1-b")
        first = run_until_summary(worker, rclient, "cam1-a")
        step(worker, 5)
    # Then both are summarised, the first without its chart, counted and logged once
    assert second["faces"] == 3 and first["faces"] == 3
    assert (folder / "cam1-a.json").is_file() and (folder / "cam1-b.timeline.png").is_file()
    assert sample(worker, "emostream_aggregator_sessions_incomplete_total", part="chart") == 1
    assert sample(worker, "emostream_aggregator_sessions_incomplete_total", part="summary") == 0  # initialised
    assert sample(worker, "emostream_aggregator_finish_failures_total", part="chart") == 3
    lines = [r for r in caplog.records if "cam1-a" in r.getMessage() and r.levelno >= logging.WARNING]
    assert len(lines) <= 2, [r.getMessage() for r in lines]
    assert not any(r.exc_info for r in caplog.records if r.levelno >= logging.WARNING), "no tracebacks"


def test_a_summary_that_cannot_be_built_is_dead_lettered_and_a_restart_finishes_the_rest(
    make_config: Any, rclient: redis.Redis, no_wait: None
) -> None:
    # Given an ended session whose counted state is corrupt (written behind the aggregator's back), and a good one
    config = make_config(aggregator={"reorder_ms": 0})
    worker = stepped(config)
    session(rclient, worker, "cam1-a")
    session(rclient, worker, "cam1-b")
    step(worker, 3)
    rclient.delete(worker.keys.session("cam1-a"), worker.keys.session("cam1-b"))
    rclient.srem(worker.keys.open_sessions, "cam1-b")
    rclient.sadd(worker.keys.open_sessions, "cam1-a")
    rclient.hdel(worker.keys.agg("cam1-a", "state"), "summarised")
    rclient.hset(worker.keys.agg("cam1-a", "tracks"), "not-a-track:first", "x")
    # When one aggregator tries once and stops, and a new one takes over
    step(worker)
    restarted = stepped(config)
    session(rclient, restarted, "cam1-c")
    run_until_summary(restarted, rclient, "cam1-c")
    step(restarted, 5)
    # Then the corrupt session is dead-lettered with its reason, no longer open, and the others are summarised
    letters = [f for _, f in rclient.xrange(worker.keys.deadletter) if f[b"id"] == b"cam1-a"]
    assert len(letters) == 1 and b"could not be summarised" in letters[0][b"reason"], letters
    assert b"cam1-a" not in rclient.smembers(worker.keys.open_sessions)
    assert stored_summary(rclient, worker.keys, "cam1-c") is not None
    assert sample(restarted, "emostream_aggregator_deadletters_total", reason="session") == 1


def test_dropped_faces_of_an_unknown_session_open_nothing(make_config: Any, rclient: redis.Redis) -> None:
    # Given a dropped message for a session that never started, older than the grace
    config = make_config(aggregator={"reorder_ms": 0, "end_grace_s": 0.1})
    worker = stepped(config)
    rclient.xadd(worker.keys.lifecycle, encode_lifecycle(FacesDropped("cam1", "cam1-ghost", "age", ("cam1-ghost:1:1",))))
    time.sleep(0.2)
    # When the aggregator reads it
    step(worker, 3)
    # Then no session is opened, and the message is dead-lettered once as unknown_session
    assert rclient.smembers(worker.keys.open_sessions) == set()
    assert rclient.hgetall(worker.keys.agg("cam1-ghost", "state")) == {}
    letters = [f for _, f in rclient.xrange(worker.keys.deadletter)]
    assert len(letters) == 1 and b"never started" in letters[0][b"reason"], letters
    assert sample(worker, "emostream_aggregator_deadletters_total", reason="unknown_session") == 1
    assert json.loads(letters[0][b"orig:data"])["session"] == "cam1-ghost"


def test_a_late_duplicate_event_does_not_leave_a_summarised_session_open(make_config: Any, rclient: redis.Redis) -> None:
    # Given a summarised session
    worker = stepped(make_config(aggregator={"reorder_ms": 0}))
    session(rclient, worker, "cam1-a")
    run_until_summary(worker, rclient, "cam1-a")
    # When one of its events comes again (a redelivery after the close)
    publish(rclient, worker.keys, [event("cam1-a", 0, 1, "happy")])
    step(worker, 3)
    # Then it is not listed as open for ever, and counted once
    assert rclient.smembers(worker.keys.open_sessions) == set()
    assert worker.registry.get_sample_value("emostream_aggregator_sessions_active") == 0


def test_a_flood_of_bad_entries_logs_a_few_lines_and_counts_them_all(
    make_config: Any, rclient: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    # Given 200 malformed lifecycle entries
    worker = stepped(make_config(aggregator={"reorder_ms": 0}))
    for n in range(200):
        rclient.xadd(worker.keys.lifecycle, {"v": "1", "type": "start", "data": f'{{"seq": {n}}}'})
    # When the aggregator takes them in
    with caplog.at_level(logging.INFO):
        step(worker, 3)
    # Then each is dead-lettered and counted, but only a few are logged
    assert rclient.xlen(worker.keys.deadletter) == 200
    assert sample(worker, "emostream_aggregator_deadletters_total", reason="malformed") == 200
    assert 1 <= sum("dead-lettered" in r.getMessage() for r in caplog.records) <= 5
