"""``emostream train --holdout``: the best epoch is chosen on Training faces, FER+ Valid is scored once at the end;
``scripts/resume_run.sh`` continues a stopped run with the options it was started with.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from emostream.training.provenance import training_section
from emostream.training.selection import load_reported, load_splits
from emostream.training.train import TrainOptions

from .conftest import TRAIN_ROWS, TRAIN_SIZE, FerSlice

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def _args(fer_slice: FerSlice, out: Path, epochs: int, *extra: str) -> list[str]:
    return [
        "train", "--data", str(fer_slice.csv), "--out", str(out), "--architecture", "compact", "--input-size", str(TRAIN_SIZE),
        "--epochs", str(epochs), "--batch-size", "32", "--lr-schedule", "constant", "--patience", "0", *extra,
    ]  # fmt: skip


def _state(folder: Path) -> dict[str, object]:
    return dict(json.loads((folder / "state.json").read_text()))


def test_holdout_run_selects_on_training_and_scores_valid_once(fer_slice: FerSlice, tmp_path: Path) -> None:
    from emostream.training import cli

    folder = tmp_path / "holdout"
    args = _args(fer_slice, folder, 2, "--holdout", "0.2")
    assert cli.main([*args, "--stop-after-epochs", "1"]) == 0
    assert "reported" not in _state(folder), "a paused run has not finished selecting: nothing may be reported yet"
    assert cli.main(args) == 0
    state = _state(folder)
    reported = state["reported"]
    assert isinstance(reported, dict) and state["done"] is True
    opts = TrainOptions(data=fer_slice.csv, out=folder, holdout=0.2)
    assert reported["usage"] == "PublicTest" and reported["faces"] == len(load_reported(opts)), "the report is all of PublicTest"
    assert reported["best_epoch"] == state["best_epoch"], "the report scores the model the holdout chose"
    held = len(load_splits(opts)[1])
    assert abs(held - 0.2 * TRAIN_ROWS) <= 7, f"a fifth of the {TRAIN_ROWS} Training rows selects, class by class; got {held}"
    for key in ("accuracy_one_pass", "accuracy_flip", "macro_f1_flip"):
        assert 0.0 <= float(reported[key]) <= 1.0, f"{key} must be a share, got {reported[key]}"
    assert set(reported["per_class_recall_flip"]) == {"angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"}

    before = (folder / "state.json").stat().st_mtime_ns
    assert cli.main(args) == 0
    assert (folder / "state.json").stat().st_mtime_ns == before, "a finished run is not scored again"

    section = training_section(folder / "best.keras")
    assert section["selected_on"].startswith("holdout: 20% of Training"), section["selected_on"]
    assert section["reported_once"] == reported, "the card carries the once-only figure"
    assert "--holdout 0.2" in section["command"]


def test_a_run_without_holdout_says_it_selected_on_the_reported_rows(fer_slice: FerSlice, tmp_path: Path) -> None:
    from emostream.training import cli

    folder = tmp_path / "plain"
    assert cli.main(_args(fer_slice, folder, 1)) == 0
    assert "reported" not in _state(folder)
    assert training_section(folder / "best.keras")["selected_on"].startswith("PublicTest (the reported rows")


def test_resume_script_continues_a_stopped_run_and_leaves_a_finished_one(fer_slice: FerSlice, tmp_path: Path) -> None:
    from emostream.training import cli

    folder = tmp_path / "stopped"
    assert cli.main([*_args(fer_slice, folder, 2, "--holdout", "0.2"), "--stop-after-epochs", "1"]) == 0
    script = [str(REPO / "scripts/resume_run.sh"), "--foreground", str(folder)]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "PYTHON": sys.executable}
    done = subprocess.run(script, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"resume_run.sh failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    assert "resuming after epoch 1 of 2" in done.stdout
    state = _state(folder)
    assert state["epoch"] == 2 and state["done"] is True and "reported" in state, f"the run must have finished: {state}"
    assert "resuming from" in (folder / "train.log").read_text(), "train must have loaded last.keras, not started over"
    again = subprocess.run(script, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "finished (2 of 2 epochs)" in again.stdout, again.stdout


def test_resume_script_refuses_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    done = subprocess.run([str(REPO / "scripts/resume_run.sh"), str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "no run.json" in done.stderr
