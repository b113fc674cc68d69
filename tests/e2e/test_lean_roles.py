"""The serving roles load only what they use: neither ingest nor the CPU classifier maps TensorFlow.

Real worker processes on the demo clip against the test session's Redis; once
faces have gone through both, each process's memory map is read from
/proc/PID/maps. TensorFlow is installed in the test environment (training
needs it), so this checks that nothing imports it, not that it is absent.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.classifier.procs import Procs, healthy, metric, scrape
from tests.conftest import free_port

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs Linux /proc to read memory maps")]

# TensorFlow's own files: site-packages/tensorflow/... (its _pywrap_tensorflow_internal.so) and libtensorflow*.so.
# LiteRT's _pywrap_tensorflow_lite_*.so live in site-packages/ai_edge_litert/ and do not match.
TENSORFLOW_FILE = re.compile(r"/tensorflow/|/libtensorflow")


def tensorflow_files(pid: int) -> list[str]:
    """TensorFlow files mapped into process ``pid``."""
    maps = Path(f"/proc/{pid}/maps").read_text().splitlines()
    return sorted({line.split()[-1] for line in maps if TENSORFLOW_FILE.search(line)})


def peak_rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
    assert match, status
    return int(match.group(1)) / 1024


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Procs]:
    running = Procs(tmp_path)
    yield running
    running.stop_all()


@pytest.mark.timeout(300)
def test_ingest_and_the_cpu_classifier_never_map_tensorflow(make_config: Any, demo_clip: Path, procs: Procs) -> None:
    # Given ingest and a CPU classifier (format auto, no GPU) working through the demo clip,
    ports = {"ingest": free_port(), "classifier": free_port()}
    config = make_config(
        sources=[{"id": "demo", "url": str(demo_clip)}],
        http={"ingest_port": ports["ingest"], "classifier_port": ports["classifier"]},
        ingest={"exit_at_end": False},  # stay up to be inspected
    )
    ingest = procs.start("ingest", config, "ingest")
    classifier = procs.start("classifier", config, "classify")
    procs.wait_for(lambda: healthy(ports["classifier"]) and healthy(ports["ingest"]), 180, "both workers answer /healthz")
    procs.wait_for(
        lambda: metric(scrape(ports["classifier"]), "emostream_classifier_faces_total", outcome="classified") >= 20,
        180,
        "the classifier has classified faces that ingest detected",
    )
    # then neither process has TensorFlow in its memory map.
    for name, proc in (("ingest", ingest), ("classifier", classifier)):
        mapped = tensorflow_files(proc.pid)
        assert not mapped, f"{name} (peak RSS {peak_rss_mib(proc.pid):.0f} MiB) maps TensorFlow: {mapped[:5]}\n{procs.logs()}"


@pytest.mark.timeout(120)
def test_the_check_sees_tensorflow_where_it_is_loaded() -> None:
    """The control: a process that imports TensorFlow is caught by the same check."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "import tensorflow, sys; print('loaded', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "loaded"
        assert tensorflow_files(proc.pid), "a process that imported tensorflow must show its libraries"
    finally:
        proc.kill()
        proc.wait(10)
