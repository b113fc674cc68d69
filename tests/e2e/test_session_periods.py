"""`ingest.session_max_s` end to end: an always-on camera's run is summarised period by period, every face once."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import RedisServer
from tests.e2e.test_run_outcomes import run_env

pytestmark = pytest.mark.slow


def test_an_always_on_camera_is_summarised_once_per_period_with_every_face(
    redis_server: RedisServer, prefix: str, tmp_path: Path, demo_clip: Path
) -> None:
    # Given the demo clip played as a camera that never ends (live: back at its start after each end), cut every 4 s,
    env = run_env(redis_server, prefix, tmp_path)
    env["EMOSTREAM_SOURCES"] = f'[{{id: cam, url: "{demo_clip}", live: true, realtime: true, fps: 5}}]'
    env["EMOSTREAM_INGEST__SESSION_MAX_S"] = "4"
    env["EMOSTREAM_INGEST__RECONNECT_INITIAL_S"] = "0.2"
    with open(tmp_path / "stdout", "wb") as out, open(tmp_path / "stderr", "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "emostream", "run", "--quiet"], cwd=tmp_path, env=env, stdout=out, stderr=err, start_new_session=True
        )
    sessions = tmp_path / "sessions"
    try:
        # when it has streamed long enough for at least two periods to be summarised,
        deadline = time.monotonic() + 150
        while len(list(sessions.glob("cam-*.json"))) < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # and is then stopped as a terminal would,
        code = proc.wait(120)
    stderr = (tmp_path / "stderr").read_text()
    assert code == 0, f"exit {code}: {stderr[-3000:]}"
    summaries = sorted((json.loads(p.read_text()) for p in sessions.glob("cam-*.json")), key=lambda s: s["started_at"])
    # then the periods that ran their length ended by the cap, the last one by the stop,
    reasons = [s["end_reason"] for s in summaries]
    assert len(summaries) >= 3 and reasons[-1] == "stopped" and set(reasons[:-1]) == {"max_duration"}, reasons
    assert len({s["session"] for s in summaries}) == len(summaries)
    for earlier, later in itertools.pairwise(summaries):
        assert later["started_at"] >= earlier["ended_at"], (earlier["ended_at"], later["started_at"])
    for s in summaries[:-1]:
        assert 4.0 <= s["duration_s"] < 6.0, f"{s['session']} lasted {s['duration_s']} s"
    # and every face of every period was counted once, in its own period (as an event, or as dropped for age).
    counts = [(s["faces"], s["faces_dropped"], s["faces_expected"]) for s in summaries]
    assert all(events + dropped == expected for events, dropped, expected in counts), counts
    assert sum(s["faces"] for s in summaries[:-1]) > 0, counts
