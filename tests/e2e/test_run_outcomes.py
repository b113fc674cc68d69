"""How `emostream run` ends: failed file sources listed with exit 1, two durations per summary, a clean Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import RedisServer

pytestmark = pytest.mark.slow


def run_env(redis_server: RedisServer, prefix: str, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMOSTREAM_")}
    env.update(
        EMOSTREAM_REDIS__URL=redis_server.url,
        EMOSTREAM_REDIS__PREFIX=prefix,
        EMOSTREAM_HTTP__INGEST_PORT="0",
        EMOSTREAM_HTTP__CLASSIFIER_PORT="0",
        EMOSTREAM_HTTP__AGGREGATOR_PORT="0",
        EMOSTREAM_AGGREGATOR__SUMMARY_DIR=str(tmp_path / "sessions"),
    )
    return env


def test_a_failed_file_source_is_listed_and_the_run_exits_1(redis_server: RedisServer, prefix: str, tmp_path: Path, demo_clip: Path) -> None:
    # Given one good clip and one path that does not exist
    args = ["run", "--quiet", "--source", f"good={demo_clip}", "--source", f"bad={tmp_path / 'missing.mp4'}"]
    # When the run ends by itself
    proc = subprocess.run(
        [sys.executable, "-m", "emostream", *args], cwd=tmp_path, env=run_env(redis_server, prefix, tmp_path),
        capture_output=True, text=True, timeout=280,
    )
    out = proc.stdout
    # Then the good clip is summarised with its media duration and its processing time
    assert "Session good-" in out, out[-3000:] + proc.stderr[-3000:]
    [summary_file] = (tmp_path / "sessions").glob("good-*.json")
    summary = json.loads(summary_file.read_text())
    assert abs(summary["media_duration_s"] - 12.0) < 0.2, f"the demo clip plays 12 s, the summary says {summary['media_duration_s']}"
    assert "12.0 s of video, processed in" in out, out[-2000:]
    # And the bad one is listed as failed, and the exit code says so
    assert "Failed source(s): 1" in out and "  bad: could not be opened" in out, out[-2000:]
    assert proc.returncode == 1, f"exit {proc.returncode}"
    assert "1 source(s) failed: bad" in proc.stderr and "worker(s) failed" not in proc.stderr, proc.stderr[-2000:]


def test_ctrl_c_stops_every_worker_cleanly_and_exits_0(redis_server: RedisServer, prefix: str, tmp_path: Path, demo_clip: Path) -> None:
    # Given a run of the clip at its own pace, started as a terminal starts a command (its own process group)
    with open(tmp_path / "stdout", "wb") as out, open(tmp_path / "stderr", "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "emostream", "run", "--quiet", "--realtime", "--source", f"demo={demo_clip}"],
            cwd=tmp_path, env=run_env(redis_server, prefix, tmp_path), stdout=out, stderr=err, start_new_session=True,
        )
    # When Ctrl-C is pressed while the workers are still starting (the terminal signals the whole foreground group)
    time.sleep(4)
    os.killpg(proc.pid, signal.SIGINT)
    code = proc.wait(180)
    stderr = (tmp_path / "stderr").read_text()
    # Then every worker stopped cleanly: no failure reported, no traceback, exit 0
    assert "worker(s) failed" not in stderr and "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr[-3000:]
    assert code == 0, f"exit {code}: {stderr[-3000:]}"
