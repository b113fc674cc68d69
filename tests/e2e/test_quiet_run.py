"""A first `emostream run` (what `make run` runs) prints our output and nothing from the frameworks."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

# What TensorFlow, absl, MediaPipe and LiteRT print at start-up: deliberately broader than the filter's own list.
FRAMEWORK_NOISE = re.compile(
    r"tensorflow|absl|litert|xnnpack|delegate|cuinit|cudart|cuda|onednn|initgoogle|cpu_feature_guard|^[IWEF]\d{4} |^(INFO|WARNING): ",
    re.I,
)


@pytest.mark.timeout(300)
def test_emostream_run_prints_no_framework_noise(tmp_path: Path) -> None:
    # A user's environment: none of our variables, none of the frameworks' quieting variables.
    quieting = ("TF_CPP_MIN_LOG_LEVEL", "GLOG_minloglevel", "TF_ENABLE_ONEDNN_OPTS")
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMOSTREAM_") and k not in quieting}
    env.update(EMOSTREAM_HTTP__INGEST_PORT="0", EMOSTREAM_HTTP__CLASSIFIER_PORT="0", EMOSTREAM_HTTP__AGGREGATOR_PORT="0")
    proc = subprocess.run([sys.executable, "-m", "emostream", "run"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=280)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    assert " face #" in proc.stdout, f"the run showed no events, so it proves nothing:\n{output[-2000:]}"
    noise = [line for line in output.splitlines() if FRAMEWORK_NOISE.search(line)]
    assert not noise, "framework start-up lines in `emostream run`'s output:\n" + "\n".join(noise[:20])
