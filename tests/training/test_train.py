"""``emostream train`` on a small slice: the loss falls, files are written, a rerun resumes."""

from __future__ import annotations

import csv
import json

import keras
import numpy as np
import pytest

from emostream.training.models import ModelSpec
from emostream.training.train import TrainOptions, load_splits

from .conftest import TRAIN_ROWS, TRAIN_SIZE, FerSlice, TrainedRun

pytestmark = pytest.mark.slow


def _history(run: TrainedRun) -> list[dict[str, float]]:
    with open(run.folder / "history.csv", newline="") as handle:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(handle)]


def test_training_loss_falls(trained_run: TrainedRun) -> None:
    losses = [row["loss"] for row in _history(trained_run)]
    assert losses[-1] < losses[0] * 0.9, f"training loss should fall by >10% over 3 epochs, got {losses}"


def test_run_folder_holds_checkpoints_state_history_and_options(trained_run: TrainedRun) -> None:
    folder = trained_run.folder
    for name in ("best.keras", "last.keras", "state.json", "history.csv", "run.json"):
        assert (folder / name).is_file(), f"{name} missing from the run folder"
    state = json.loads((folder / "state.json").read_text())
    assert state["epoch"] == 3 and state["done"] is True, f"unexpected final state {state}"
    assert 1 <= state["best_epoch"] <= 3 and 0.0 <= state["best"] <= 1.0
    best_history = max(row["val_accuracy"] for row in _history(trained_run))
    assert state["best"] == pytest.approx(best_history), "best score must be the best val_accuracy of the history"
    run = json.loads((folder / "run.json").read_text())
    assert run["epochs"] == 3 and run["model"]["input_size"] == TRAIN_SIZE
    model = keras.models.load_model(folder / "best.keras", compile=False)
    assert model.input_shape == (None, TRAIN_SIZE, TRAIN_SIZE, 1), "48x48 FER rows train a model of --input-size"


def test_rerun_resumes_from_the_last_checkpoint(trained_run: TrainedRun) -> None:
    assert trained_run.first_state["epoch"] == 2 and trained_run.first_state["done"] is False
    assert trained_run.first_iterations == 2 * trained_run.steps_per_epoch, "last.keras keeps the optimizer state"
    assert any(p.endswith("last.keras") for p in trained_run.resume_loaded), "the rerun must load last.keras"
    assert trained_run.resume_built == 0, "the rerun must not build a fresh model"
    epochs = [int(row["epoch"]) for row in _history(trained_run)]
    assert epochs == [0, 1, 2], f"the history must continue at epoch 2, not start over: {epochs}"
    last = keras.models.load_model(trained_run.folder / "last.keras")
    assert int(last.optimizer.iterations.numpy()) == 3 * trained_run.steps_per_epoch


def test_finished_run_is_not_trained_again(trained_run: TrainedRun) -> None:
    from emostream.training import cli

    before = (trained_run.folder / "last.keras").stat().st_mtime_ns
    assert cli.main(trained_run.args) == 0
    assert (trained_run.folder / "last.keras").stat().st_mtime_ns == before, "a finished run must be left alone"
    assert len(_history(trained_run)) == 3


def test_limit_and_input_size_shape_the_splits(fer_slice: FerSlice, tmp_path: pytest.TempPathFactory) -> None:
    opts = TrainOptions(data=fer_slice.csv, out=tmp_path, limit=40, model=ModelSpec(input_size=40))
    train, val = load_splits(opts)
    assert (len(train), len(val)) == (40, 10), "--limit caps training at N and validation at N/4"
    assert train.images.shape[1:] == (40, 40, 1) and val.images.shape[1:] == (40, 40, 1)
    assert len(load_splits(TrainOptions(data=fer_slice.csv, out=tmp_path))[0]) == TRAIN_ROWS
    assert np.all(train.labels.sum(axis=1) == 1.0)
