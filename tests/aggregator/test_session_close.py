"""Closing a session: one atomic step, on the aggregator's injected clock."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
import redis

from tests.aggregator.support import end, event, publish, run_until_summary, start, step, stepped


def test_a_connection_lost_while_closing_leaves_the_session_open_not_flagged(make_config: Any, rclient: redis.Redis) -> None:
    # Given a session whose events are all counted
    worker = stepped(make_config(aggregator={"reorder_ms": 0}))
    keys = worker.keys
    start(rclient, keys, "s-close")
    publish(rclient, keys, [event("s-close", seq, 1, "happy") for seq in range(3)])
    end(rclient, keys, "s-close", faces=3, frames=3)
    # When the connection drops just as the closing transaction (the watched MULTI/EXEC) is sent
    original = redis.client.Pipeline.execute

    def flaky(pipe: Any, *args: Any, **kwargs: Any) -> Any:
        if pipe.watching:
            raise redis.ConnectionError("connection lost")
        return original(pipe, *args, **kwargs)

    with mock.patch.object(redis.client.Pipeline, "execute", flaky), pytest.raises(redis.ConnectionError):
        step(worker, 5)
    # Then nothing of the close happened: not flagged, nothing published, still open
    assert "summarised" not in worker.store.state("s-close"), "the session was flagged summarised without its summary"
    assert rclient.xlen(keys.sessions) == 0 and rclient.sismember(keys.open_sessions, "s-close")
    # ... and the aggregator, running on, publishes it exactly once
    summary = run_until_summary(worker, rclient, "s-close")
    assert summary["faces"] == 3 and rclient.xlen(keys.sessions) == 1
    step(worker, 2)
    assert rclient.xlen(keys.sessions) == 1, "published once"


def test_the_aggregator_stamps_sessions_with_its_injected_clock(make_config: Any, rclient: redis.Redis) -> None:
    now = [1_234_567.0]
    worker = stepped(make_config(aggregator={"reorder_ms": 0}), clock=lambda: now[0])
    keys = worker.keys
    start(rclient, keys, "s-clock")
    publish(rclient, keys, [event("s-clock", 0, 1, "sad")])
    end(rclient, keys, "s-clock", faces=1, frames=1)
    run_until_summary(worker, rclient, "s-clock")
    state = worker.store.state("s-clock")
    assert float(state["end_received_ts"]) == now[0] and float(state["summarised"]) == now[0]
    assert rclient.zscore(keys.sessions_index, "s-clock") == now[0]
