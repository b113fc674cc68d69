"""Shared data and a tiny trained run for the training tests.

Real FER2013 rows are used when the shared copy is present
(``/work/shared/data/fer2013`` next to the repository, or ``EMOSTREAM_FER2013_DIR``);
otherwise generated faces stand in, and tests that need the real thing skip.
"""

from __future__ import annotations

import csv
import gzip
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from emostream.infra.emotions import EMOTIONS

FER_DIR = Path(os.environ.get("EMOSTREAM_FER2013_DIR") or Path(__file__).resolve().parents[2].parent / "shared/data/fer2013")
FER_CSV = FER_DIR / "fer2013.csv.gz"
FERPLUS_CSV = FER_DIR / "fer2013new.csv"
NO_FER_REASON = f"FER2013 not found at {FER_CSV} (set EMOSTREAM_FER2013_DIR to the folder holding fer2013.csv.gz)"
TRAIN_ROWS, TEST_ROWS = 300, 100
TRAIN_SIZE = 32  # the shared run trains at 32x32: quicker, and exercises resizing 48x48 FER crops


def write_fer_csv(path: Path, images: np.ndarray, codes: np.ndarray, usages: list[str]) -> Path:
    """A file in the Kaggle fer2013.csv format (gzip when ``path`` ends in .gz)."""
    lines = ["emotion,pixels,Usage"]
    lines += [f"{c},{' '.join(map(str, img.ravel()))},{u}" for img, c, u in zip(images, codes, usages, strict=True)]
    text = "\n".join(lines) + "\n"
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def synthetic_faces(n: int, seed: int, size: int = 48) -> tuple[np.ndarray, np.ndarray]:
    """Learnable stand-ins for faces: class k is horizontal stripes of period 4+2k plus noise.

    Horizontal stripes look the same mirrored, so flip augmentation keeps the label.
    """
    rng = np.random.default_rng(seed)
    codes = rng.permutation(np.arange(n) % len(EMOTIONS))
    rows = np.arange(size, dtype=np.float64)[:, None]
    images = np.empty((n, size, size, 1), np.uint8)
    for i, code in enumerate(codes):
        wave = np.sin(2 * np.pi * rows / (4 + 2 * code) + rng.uniform(0, 2 * np.pi))
        image = 128 + 80 * wave + rng.normal(0, 20, (size, size))
        images[i, ..., 0] = np.clip(image, 0, 255).astype(np.uint8)
    return images, codes


@dataclass(frozen=True)
class FerSlice:
    csv: Path  # TRAIN_ROWS Training rows, then TEST_ROWS PublicTest rows
    ferplus: Path | None  # the matching FER+ rows, real data only
    real: bool


def _real_slice(folder: Path) -> FerSlice:
    """The first Training and the first PublicTest rows of the shared FER2013, with their FER+ rows."""
    picked: list[int] = []
    lines = []
    with gzip.open(FER_CSV, "rt", newline="") as handle:
        header = next(handle)
        train = test = 0
        for index, line in enumerate(handle):
            usage = line.rstrip("\r\n").rsplit(",", 1)[1]
            if usage == "Training" and train < TRAIN_ROWS:
                train += 1
            elif usage == "PublicTest" and test < TEST_ROWS:
                test += 1
            else:
                if train == TRAIN_ROWS and test == TEST_ROWS:
                    break
                continue
            picked.append(index)
            lines.append(line)
    csv_path = folder / "fer2013-slice.csv.gz"
    csv_path.write_bytes(gzip.compress((header + "".join(lines)).encode()))
    ferplus = None
    if FERPLUS_CSV.is_file():
        with open(FERPLUS_CSV, newline="") as handle:
            rows = list(csv.reader(handle))
        wanted = set(picked)
        kept = [rows[0]] + [row for i, row in enumerate(rows[1:]) if i in wanted]
        ferplus = folder / "fer2013new-slice.csv"
        with open(ferplus, "w", newline="") as handle:
            csv.writer(handle, lineterminator="\n").writerows(kept)
    return FerSlice(csv_path, ferplus, real=True)


@pytest.fixture(scope="session")
def fer_slice(tmp_path_factory: pytest.TempPathFactory) -> FerSlice:
    """Real FER2013 rows when the shared copy exists, else generated faces in the same format."""
    folder = tmp_path_factory.mktemp("fer")
    if FER_CSV.is_file():
        return _real_slice(folder)
    images, codes = synthetic_faces(TRAIN_ROWS + TEST_ROWS, seed=7)
    usages = ["Training"] * TRAIN_ROWS + ["PublicTest"] * TEST_ROWS
    return FerSlice(write_fer_csv(folder / "synthetic.csv", images, codes, usages), None, real=False)


@pytest.fixture(scope="session")
def real_fer_slice(fer_slice: FerSlice) -> FerSlice:
    if not fer_slice.real:
        pytest.skip(NO_FER_REASON)
    return fer_slice


@dataclass
class TrainedRun:
    folder: Path
    args: list[str]
    first_state: dict[str, Any]  # state.json after the first, interrupted invocation
    first_iterations: int  # optimizer steps in last.keras after it
    resume_loaded: list[str]  # files keras.models.load_model read during the resumed invocation
    resume_built: int  # models built from scratch during the resumed invocation
    steps_per_epoch: int


class SimulatedCrashError(Exception):
    """Stands in for a killed process: raised right after an epoch has been checkpointed."""


@pytest.fixture(scope="session")
def trained_run(fer_slice: FerSlice, tmp_path_factory: pytest.TempPathFactory) -> TrainedRun:
    """``emostream train --epochs 3`` that "crashes" after epoch 2, then the same command again.

    The crash is an exception from the history logger, which runs after the
    checkpoint callback, as when a process dies between two epochs. Augmentation
    is off and the learning rate constant, so the falling loss is the
    optimiser's doing; 32x32 inputs keep each epoch to a few seconds.
    """
    import json

    import keras

    from emostream.training import cli, models

    folder = tmp_path_factory.mktemp("run") / "compact"
    args = [
        "train",
        "--data",
        str(fer_slice.csv),
        "--out",
        str(folder),
        "--input-size",
        str(TRAIN_SIZE),
        "--epochs",
        "3",
        "--batch-size",
        "32",
        "--lr-schedule",
        "constant",
        "--patience",
        "0",
        "--no-flip",
        "--rotation",
        "0",
        "--shift",
        "0",
        "--zoom",
        "0",
        "--contrast",
        "0",
    ]
    real_logger = keras.callbacks.CSVLogger
    opened: list[Any] = []

    class CrashingLogger(real_logger):  # type: ignore[misc, valid-type]
        def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
            opened.append(self)
            super().on_epoch_end(epoch, logs)
            if epoch == 1:
                raise SimulatedCrashError("killed after epoch 2")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(keras.callbacks, "CSVLogger", CrashingLogger)
        with pytest.raises(SimulatedCrashError):
            cli.main(args)
    for logger in opened:
        if logger.csv_file is not None and not logger.csv_file.closed:
            logger.csv_file.close()
    first_state = json.loads((folder / "state.json").read_text())
    first_iterations = int(keras.models.load_model(folder / "last.keras").optimizer.iterations.numpy())

    loaded: list[str] = []
    built: list[str] = []
    real_load, real_build = keras.models.load_model, models.build_model

    def spy_load(path: Any, *a: Any, **k: Any) -> Any:
        loaded.append(str(path))
        return real_load(path, *a, **k)

    def spy_build(name: str, *a: Any, **k: Any) -> Any:
        built.append(name)
        return real_build(name, *a, **k)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(keras.models, "load_model", spy_load)
        mp.setattr(models, "build_model", spy_build)
        assert cli.main(args) == 0
    return TrainedRun(
        folder=folder,
        args=args,
        first_state=first_state,
        first_iterations=first_iterations,
        resume_loaded=loaded,
        resume_built=len(built),
        steps_per_epoch=-(-TRAIN_ROWS // 32),
    )


@pytest.fixture
def fer_csv_factory(tmp_path: Path) -> Callable[..., Path]:
    """Write a small FER2013-format file from rows of (code, pixels, usage) or raw text."""

    def make(name: str = "fer.csv", rows: list[tuple[Any, Any, str]] | None = None, text: str | None = None) -> Path:
        path = tmp_path / name
        if text is None:
            body = ["emotion,pixels,Usage"]
            for code, pixels, usage in rows or []:
                pix = pixels if isinstance(pixels, str) else " ".join(map(str, np.asarray(pixels).ravel()))
                body.append(f"{code},{pix},{usage}")
            text = "\n".join(body) + "\n"
        if path.suffix == ".gz":
            path.write_bytes(gzip.compress(text.encode()))
        else:
            path.write_text(text)
        return path

    return make
