"""Native start-up chatter is dropped at the default level; every other line, and DEBUG, pass."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from emostream.infra.nativelog import is_noise

CHATTER = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796078451.670915   26540 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.",
    "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",
    "INFO: [environment.cc:36] Creating LiteRT environment with options",
    "WARNING: Logging before InitGoogle() is written to STDERR",
    "W0000 00:00:1796078463.142022   26882 inference_runner_litert.cc:1418] Input tensor memory is not aligned",
    "E0000 00:00:1796078463.543335   26540 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)",
    "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the appropriate compiler flags.",
]
NEWS = [
    "E0000 00:00:1796078463.543335   26540 model_loader.cc:52] could not open model file",
    "2026-11-30 22:40:47,484 INFO    MainProcess emostream.run.pipeline: started aggregate (pid 26539)",
    "[h264 @ 0x55] error while decoding MB 3 4",
    "Traceback (most recent call last):",
]


@pytest.mark.parametrize("line", CHATTER)
def test_known_chatter_is_noise(line: str) -> None:
    assert is_noise(line)


@pytest.mark.parametrize("line", NEWS)
def test_errors_and_our_own_lines_are_not(line: str) -> None:
    assert not is_noise(line)


SCRIPT = """
import logging, os, sys
from emostream.infra.nativelog import filter_native_output
filter_native_output(sys.argv[1])
logging.basicConfig(level=logging.INFO, format="%(levelname)s py: %(message)s")
for line in sys.argv[2:]:
    os.write(2, (line + "\\n").encode())  # as a C++ library writes: straight to descriptor 2
logging.info("a python log record")
print("to stdout")
"""


@pytest.mark.parametrize(("level", "shown"), [("INFO", False), ("DEBUG", True)])
def test_a_process_drops_native_chatter_unless_debug(level: str, shown: bool) -> None:
    proc = subprocess.run([sys.executable, "-c", SCRIPT, level, *CHATTER, NEWS[0]], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "to stdout\n"
    lines = proc.stderr.splitlines()
    assert NEWS[0] in lines and "INFO py: a python log record" in lines, "real messages always pass, none lost at exit"
    assert all((line in lines) is shown for line in CHATTER), proc.stderr


def test_a_command_that_needs_tensorflow_says_which_extra_to_install_when_it_is_missing(tmp_path: Path) -> None:
    # Given a tiny FER2013-style CSV and TensorFlow blocked as if not installed,
    data = tmp_path / "fer.csv"
    data.write_text("emotion,pixels,Usage\n" + "".join(f"{k},{' '.join(['128'] * 48 * 48)},PublicTest\n" for k in range(7)))
    code = (
        "import sys; sys.modules['tensorflow'] = None; sys.modules['keras'] = None\n"
        "from emostream.cli import main\n"
        f"sys.exit(main(['evaluate', '--model', 'mini-xception', '--format', 'keras', '--data', {str(data)!r}]))\n"
    )
    # when a command that needs TensorFlow runs, it says which extra to install.
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}  # as a user's shell has it
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "pip install 'emostream[train]'" in proc.stderr, proc.stderr


def test_analyze_as_a_program_prints_no_native_chatter(tmp_path: Path) -> None:
    """``emostream analyze`` loads LiteRT and MediaPipe in-process: their start-up lines are dropped, our own lines stay."""
    clip = Path(__file__).parents[1] / "data" / "tracking" / "swap.mp4"
    proc = subprocess.run(
        [sys.executable, "-m", "emostream", "analyze", str(clip), "--out", str(tmp_path), "--every-nth", "45"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    chatter = [line for line in proc.stderr.splitlines() if is_noise(line)]
    assert chatter == [], chatter
    assert "swap.mp4 frame 0 face 1:" in proc.stdout + proc.stderr
