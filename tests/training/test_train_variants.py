"""Short runs of ``emostream train`` with FER+ soft targets, distillation and the JAX backend.

Each run trains two epochs, stops (``--stop-after-epochs 2``, as a working day
ends), and is started again with the same command: the loss must fall and the
rerun must resume from the checkpoint, not start over.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from .conftest import TRAIN_SIZE, FerSlice, TrainedRun

pytestmark = pytest.mark.slow

EPOCHS = 3


def _args(fer_slice: FerSlice, out: Path, *extra: str) -> list[str]:
    return [
        "train",
        "--data",
        str(fer_slice.csv),
        "--out",
        str(out),
        "--architecture",
        "compact",
        "--input-size",
        str(TRAIN_SIZE),
        "--epochs",
        str(EPOCHS),
        "--batch-size",
        "32",
        "--lr-schedule",
        "constant",
        "--label-smoothing",
        "0",
        "--patience",
        "0",
        *extra,
    ]


def _history(folder: Path) -> list[dict[str, float]]:
    with open(folder / "history.csv", newline="") as handle:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(handle)]


def _state(folder: Path) -> dict[str, object]:
    return dict(json.loads((folder / "state.json").read_text()))


def _run_in_process(args: list[str]) -> dict[str, object]:
    """Two epochs, a stop, then the same command to the end; returns state.json after the stop."""
    from emostream.training import cli

    assert cli.main([*args, "--stop-after-epochs", "2"]) == 0
    paused = _state(Path(args[args.index("--out") + 1]))
    assert cli.main(args) == 0
    return paused


def _check_resumed_and_learned(folder: Path, paused: dict[str, object]) -> None:
    assert paused["epoch"] == 2 and paused["done"] is False, f"the stop must leave a resumable run, got {paused}"
    assert _state(folder)["epoch"] == EPOCHS and _state(folder)["done"] is True
    history = _history(folder)
    assert [int(r["epoch"]) for r in history] == list(range(EPOCHS)), "the rerun continues the history"
    losses = [r["loss"] for r in history]
    assert losses[-1] < losses[0] * 0.95, f"the training loss should fall over {EPOCHS} epochs, got {losses}"
    for name in ("best.keras", "last.keras", "run.json"):
        assert (folder / name).is_file(), f"{name} missing"


def test_ferplus_soft_targets_train_and_resume(real_fer_slice: FerSlice, tmp_path: Path) -> None:
    if real_fer_slice.ferplus is None:
        pytest.skip("fer2013new.csv is not in the shared FER2013 folder")
    folder = tmp_path / "soft"
    paused = _run_in_process(_args(real_fer_slice, folder, "--labels", "ferplus-soft", "--ferplus", str(real_fer_slice.ferplus)))
    _check_resumed_and_learned(folder, paused)
    run = json.loads((folder / "run.json").read_text())
    assert run["labels"] == "ferplus-soft" and run["backend"] == "tensorflow"


def test_distillation_from_the_packaged_ensemble_trains_and_resumes(fer_slice: FerSlice, tmp_path: Path) -> None:
    from emostream.training.options import TrainOptions
    from emostream.training.table import labelled, load_table
    from emostream.training.train import load_splits

    folder = tmp_path / "distil"
    args = _args(fer_slice, folder, "--teacher", "ensemble", "--teacher-weight", "0.7", "--teacher-temperature", "2")
    paused = _run_in_process(args)
    _check_resumed_and_learned(folder, paused)
    with np.load(folder / "teacher.npz") as npz:
        teacher = npz["targets"]
        assert list(npz["teachers"]) == ["ensemble"]
    hard = labelled(load_table(fer_slice.csv), "Training", "fer2013").labels
    assert teacher.shape == hard.shape and np.allclose(teacher.sum(axis=1), 1.0, atol=1e-4)
    # The targets train sees: 30% the labels, 70% the softened teacher (reused from teacher.npz).
    opts = TrainOptions(data=fer_slice.csv, out=folder, teacher=("ensemble",), teacher_weight=0.7, teacher_temperature=2.0)
    mixed = load_splits(opts)[0].labels
    assert np.allclose(mixed.sum(axis=1), 1.0, atol=1e-4)
    assert np.allclose(mixed[hard == 1], 0.3 + 0.7 * _soften(teacher, 2.0)[hard == 1], atol=1e-4)


def _soften(p: np.ndarray, t: float) -> np.ndarray:
    q = np.asarray(p, dtype=np.float64) ** (1.0 / t)
    return np.asarray(q / q.sum(axis=1, keepdims=True))


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed (pip install the dev extra)")
def test_jax_backend_without_tensorflow_distils_resumes_and_its_checkpoint_loads_under_tensorflow(
    fer_slice: FerSlice, trained_run: TrainedRun, tmp_path: Path
) -> None:
    """A GPU machine has JAX and no TensorFlow: a bare .keras teacher must still give soft targets there."""
    folder = tmp_path / "jax"
    teacher = str(trained_run.folder / "best.keras")
    # As on a GPU machine with JAX but no TensorFlow: importing it fails in the child.
    no_tf = "import runpy, sys; sys.modules['tensorflow'] = None; sys.argv[0] = 'emostream'; runpy.run_module('emostream', run_name='__main__')"
    args = [sys.executable, "-c", no_tf, *_args(fer_slice, folder, "--teacher", teacher, "--teacher-weight", "0.5")]
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    for extra in (["--stop-after-epochs", "2"], []):
        done = subprocess.run([*args, *extra], env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"emostream train under JAX failed:\n{done.stderr[-3000:]}"
        if extra:
            paused = _state(folder)
    assert "resuming from" in done.stderr, "the second invocation must resume from last.keras"
    _check_resumed_and_learned(folder, paused)
    assert json.loads((folder / "run.json").read_text())["backend"] == "jax"
    with np.load(folder / "teacher.npz") as npz:
        assert list(npz["teachers"]) == [teacher] and np.allclose(npz["targets"].sum(axis=1), 1.0, atol=1e-4)
    import keras

    model = keras.models.load_model(folder / "best.keras", compile=False)
    assert model.predict(np.zeros((2, TRAIN_SIZE, TRAIN_SIZE, 1), np.float32), verbose=0).shape == (2, 7)


def test_init_from_starts_with_the_given_weights(fer_slice: FerSlice, trained_run: TrainedRun, tmp_path: Path) -> None:
    import keras

    from emostream.training import cli

    start = trained_run.folder / "best.keras"
    folder = tmp_path / "warm"
    # A zero learning rate leaves the convolution kernels where --init-from put them.
    args = _args(fer_slice, folder, "--init-from", str(start), "--learning-rate", "0", "--no-flip")
    args[args.index("--epochs") + 1] = "1"
    assert cli.main(args) == 0
    before = keras.models.load_model(start, compile=False)
    after = keras.models.load_model(folder / "last.keras", compile=False)
    kernels = [(a, b) for a, b in zip(before.weights, after.weights, strict=True) if "kernel" in a.path]
    assert kernels and all(np.allclose(a.numpy(), b.numpy()) for a, b in kernels), "training must start from --init-from's weights"
    assert json.loads((folder / "run.json").read_text())["init_from"] == str(start)
