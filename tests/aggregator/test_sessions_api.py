"""Sessions from the outside: the HTTP API, `emostream sessions` and `emostream tracks`, retention."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from emostream.aggregator.worker import AggregatorWorker
from emostream.cli import main
from tests.aggregator.support import end, event, publish, run_until_summary, start, step, stepped

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def two_sessions(make_config: Any, rclient: redis.Redis) -> Iterator[AggregatorWorker]:
    """An aggregator (HTTP on a free port) that has summarised ``cam1-ended`` and is counting ``cam2-open``."""
    worker = stepped(make_config(aggregator={"reorder_ms": 0}))
    keys = worker.keys
    start(rclient, keys, "cam1-ended")
    publish(rclient, keys, [event("cam1-ended", seq, 1, "happy" if seq < 30 else "sad") for seq in range(50)])
    end(rclient, keys, "cam1-ended", faces=50, frames=50)
    run_until_summary(worker, rclient, "cam1-ended")
    start(rclient, keys, "cam2-open", source="cam2")
    publish(rclient, keys, [event("cam2-open", seq, 4, "surprise", source="cam2") for seq in range(12)])
    step(worker, 3)
    worker.start_http()
    yield worker
    assert worker.http is not None
    worker.http.stop()


def get(worker: AggregatorWorker, path: str) -> tuple[int, str, bytes]:
    assert worker.http is not None
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{worker.http.port}{path}", timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read()


def get_json(worker: AggregatorWorker, path: str) -> Any:
    status, ctype, body = get(worker, path)
    assert status == 200 and ctype == "application/json", (path, status, body[:300])
    return json.loads(body)


def test_get_sessions_lists_open_sessions_live_and_ended_ones(two_sessions: AggregatorWorker) -> None:
    rows = get_json(two_sessions, "/sessions")["sessions"]
    assert [(r["session"], r["state"]) for r in rows] == [("cam2-open", "open"), ("cam1-ended", "ended")], rows
    live = rows[0]
    assert live["faces"] == 12 and live["tracks"] == 1 and live["dominant"] == "surprise", live
    assert live["duration_s"] == 1.1, "an open session's duration is its media clock so far"
    assert rows[1]["faces"] == 50 and rows[1]["dominant"] == "happy"
    assert [r["session"] for r in get_json(two_sessions, "/sessions/open")["sessions"]] == ["cam2-open"]
    assert [r["session"] for r in get_json(two_sessions, "/sessions/ended")["sessions"]] == ["cam1-ended"]


def test_get_one_session_returns_the_stored_summary_or_the_live_view(two_sessions: AggregatorWorker, rclient: redis.Redis) -> None:
    ended = get_json(two_sessions, "/sessions/cam1-ended")
    stored = json.loads(rclient.get(two_sessions.keys.session("cam1-ended")) or b"{}")
    assert ended == stored | {"state": "ended"}, "an ended session is served from its stored summary"
    assert ended["timeline"][0]["share"]["happy"] == 0.6
    live = get_json(two_sessions, "/sessions/cam2-open")
    assert live["state"] == "open" and live["faces"] == 12 and live["ended_at"] is None
    assert [(t["track_id"], t["label"]) for t in live["active_tracks"]] == [(4, "surprise")], live["active_tracks"]


def test_timeline_png_is_rendered_for_ended_and_open_sessions(two_sessions: AggregatorWorker) -> None:
    for session in ("cam1-ended", "cam2-open"):
        status, ctype, body = get(two_sessions, f"/sessions/{session}/timeline.png")
        assert (status, ctype) == (200, "image/png"), (session, status, body[:200])
        assert body.startswith(PNG) and len(body) > 5000, f"{session}: not a real PNG chart ({len(body)} bytes)"


def test_unknown_sessions_and_paths_are_404(two_sessions: AggregatorWorker) -> None:
    for path in ("/sessions/cam9-nope", "/sessions/cam9-nope/timeline.png", "/sessions/cam1-ended/other", "/sessions/..%2Fx"):
        status, _, body = get(two_sessions, path)
        assert status == 404, f"{path}: {status} {body[:200]!r}"


def test_cli_sessions_list_and_show(two_sessions: AggregatorWorker, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config_file = tmp_path / "emostream.yaml"
    config_file.write_text(yaml.safe_dump(two_sessions.config.model_dump(mode="json")))
    base = ["--config", str(config_file), "sessions"]

    assert main([*base, "list"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].startswith("STATE") and len(table) == 3, table
    assert table[1].split()[:3] == ["open", "cam2-open", "cam2"] and table[2].split()[:3] == ["ended", "cam1-ended", "cam1"], table

    assert main([*base, "list", "--open", "--json"]) == 0
    assert [r["session"] for r in json.loads(capsys.readouterr().out)] == ["cam2-open"]

    assert main([*base, "show", "cam1-ended", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["faces"] == 50
    assert main([*base, "show", "cam1-ended"]) == 0
    text = capsys.readouterr().out
    assert "Session cam1-ended (cam1), ended" in text and "face #1:" in text and "happy 60%" in text, text

    assert main([*base, "show", "cam9-nope"]) == 2
    assert "no session 'cam9-nope'" in capsys.readouterr().err


def test_cli_tracks_prints_the_stored_track_events(
    two_sessions: AggregatorWorker, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config_file = tmp_path / "emostream.yaml"
    config_file.write_text(yaml.safe_dump(two_sessions.config.model_dump(mode="json")))
    assert main(["--config", str(config_file), "tracks", "--source", "cam1", "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(t["type"], t["reason"]) for t in lines] == [("new", "started"), ("update", "label_changed"), ("end", "session_end")]
    assert main(["--config", str(config_file), "tracks"]) == 0
    text = capsys.readouterr().out.splitlines()
    assert len(text) == 4 and "happy -> sad" in text[1] and "mostly happy" in text[2] and "face #4   new" in text[3], text


def test_expired_summaries_leave_the_list_and_old_index_entries_are_pruned(make_config: Any, rclient: redis.Redis) -> None:
    # Given an index entry older than the retention (its summary has expired) and one whose summary is gone
    worker = stepped(make_config(aggregator={"reorder_ms": 0, "retention_s": 3600}))
    keys = worker.keys
    rclient.zadd(keys.sessions_index, {"cam1-ancient": time.time() - 7200, "cam1-vanished": time.time() - 60})
    # When a session is summarised
    start(rclient, keys, "cam1-new")
    publish(rclient, keys, [event("cam1-new", 0, 1, "fear")])
    end(rclient, keys, "cam1-new", faces=1, frames=1)
    run_until_summary(worker, rclient, "cam1-new")
    # Then the old entry was pruned, the vanished one is not listed, and the summary expires after the retention
    assert [m.decode() for m in rclient.zrange(keys.sessions_index, 0, -1)] == ["cam1-vanished", "cam1-new"]
    assert [r["session"] for r in worker.queries.list_ended()] == ["cam1-new"]
    assert 3590 < rclient.ttl(keys.session("cam1-new")) <= 3600


def test_the_live_web_page_is_served_only_when_enabled(make_config: Any) -> None:
    for enabled, expected in ((False, 404), (True, 200)):
        worker = stepped(make_config(web={"enabled": enabled}))
        worker.start_http()
        try:
            status, ctype, _ = get(worker, "/")
            assert status == expected, f"web.enabled={enabled}: GET / answered {status}"
            if enabled:
                assert ctype.startswith("text/html")
            assert get(worker, "/sessions")[0] == 200, "the sessions API is always there"
        finally:
            assert worker.http is not None
            worker.http.stop()


def test_latency_from_capture_to_aggregation_is_measured(make_config: Any, rclient: redis.Redis) -> None:
    worker = stepped(make_config(aggregator={"reorder_ms": 0}))
    start(rclient, worker.keys, "cam1-lat")
    publish(rclient, worker.keys, [event("cam1-lat", seq, 1, "happy") for seq in range(3)])
    step(worker, 2)
    count = worker.registry.get_sample_value("emostream_aggregator_latency_seconds_count", {"stage": "capture_to_aggregate"})
    assert count == 3, f"expected 3 capture_to_aggregate observations, got {count}"
