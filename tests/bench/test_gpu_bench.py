"""scripts/gpu_bench.sh (benchmarks/gpu.py) on this CPU: a real replica drains the queued faces, one event each."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import ROOT
from benchmarks import gpu as bench


@pytest.mark.slow
@pytest.mark.timeout(900)  # ~1.5 min on a quiet 2-core box, over 5 min at load 10-20 (JAX compiles per batch shape)
def test_the_script_measures_a_replica_under_jax_end_to_end_and_alone(tmp_path: Path) -> None:
    # No GPU here: small N, float32 (the mixed row is left out where mixed precision does not apply).
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMOSTREAM_")}
    env |= {"PYTHON": sys.executable, "OUT": str(tmp_path / "out"), "GPU_WHEELS": str(tmp_path / "no-wheels")}
    args = ["--faces", "300", "--batches", "32", "--backends", "jax", "--precisions", "float32,mixed", "--seconds", "0.5"]
    proc = subprocess.run([str(ROOT / "scripts" / "gpu_bench.sh"), *args], capture_output=True, text=True, env=env, timeout=840)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((tmp_path / "out" / "results.json").read_text())
    [row] = report["results"]
    assert (row["backend"], row["precision"], row["batch_max"], row["device"]) == ("jax", "float32", 32, "CPU"), row
    assert row["events"] == row["faces"] == 300, f"every face gets exactly one event: {row}"
    assert row["model_faces_s"] > 0 and row["e2e_faces_s"] > 0, row
    table = (tmp_path / "out" / "results.md").read_text()
    assert "| jax | float32 | 32 | CPU |" in table, table


def test_without_a_gpu_the_page_section_says_so_and_how_to_measure() -> None:
    assert not bench.gpu_present(), "this test expects a machine without a GPU"
    section = bench.run(quick=True)
    assert section.startswith("## GPU\n") and "No GPU" in section and "scripts/gpu_bench.sh" in section, section
