"""A file a few frames short of its container's count is a whole file: `emostream run` ends it `eof`, exit 0.

Needs the FER2013 faces for the generated clip (see tests/bench/test_scenes.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.scenes import generate, testclips
from benchmarks.scenes.faces import fer_dir
from tests.conftest import RedisServer
from tests.e2e.test_run_outcomes import run_env

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (fer_dir() / "fer2013new.csv").is_file() and not (generate.CACHE / "faces-tune.npz").is_file(),
        reason="no FER2013/FER+ data (../shared/data/fer2013 or EMOSTREAM_FER_DIR) and no cached face pool",
    ),
]

WARNING = "frame(s) short of the"


def test_a_file_three_frames_short_ends_eof_with_one_warning(redis_server: RedisServer, prefix: str, tmp_path: Path) -> None:
    # Given an MP4 whose index declares 98 frames of which 95 are in the file
    clip = testclips.short_file(tmp_path / "clips", frames=98, missing=3)
    # When `emostream run` analyses it to its end
    proc = subprocess.run(
        [sys.executable, "-m", "emostream", "run", "--quiet", "--source", f"short={clip.path}"],
        cwd=tmp_path, env=run_env(redis_server, prefix, tmp_path), capture_output=True, text=True, timeout=280,
    )
    logs = proc.stdout + proc.stderr
    # Then the run succeeds, the session ends as a file ends, and the shortfall is said once
    assert proc.returncode == 0, f"exit {proc.returncode}: {logs[-3000:]}"
    [summary_file] = (tmp_path / "sessions").glob("short-*.json")
    summary = json.loads(summary_file.read_text())
    assert summary["end_reason"] == "eof", f"the session ended {summary['end_reason']!r}"
    assert logs.count(WARNING) == 1, f"expected one warning about the 3 missing frames, got {logs.count(WARNING)}: {logs[-3000:]}"
    assert "Failed source(s)" not in logs, logs[-3000:]
