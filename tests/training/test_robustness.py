"""Faces as a camera gives them: the OpenCV conditions, and scripts/camera_robustness.py end to end on a small pack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from emostream.training.data import Dataset
from emostream.training.holdout import split_rows, strata_of
from emostream.training.robustness import CONDITIONS, condition, degrade_all, through_camera
from emostream.training.table import FerTable, write_npz

from .conftest import synthetic_faces

REPO = Path(__file__).resolve().parents[2]


def _energy(images: np.ndarray) -> float:
    """Mean squared horizontal and vertical gradient: what blur and low resolution take away."""
    f = images.astype(np.float64)
    return float((np.diff(f, axis=1) ** 2).mean() + (np.diff(f, axis=2) ** 2).mean())


def test_every_condition_changes_every_face_and_keeps_its_shape() -> None:
    faces, _ = synthetic_faces(12, seed=1)
    for name, how in CONDITIONS.items():
        out = degrade_all(faces, how)
        assert out.shape == faces.shape and out.dtype == np.uint8, name
        changed = (out != faces).reshape(len(faces), -1).any(axis=1)
        assert changed.all(), f"{name} left some faces as they were"
        assert np.array_equal(degrade_all(faces, how), out), f"{name}: the same seed gives the same faces"


def test_a_condition_is_named_as_in_the_docs_or_with_a_dash_and_nothing_else() -> None:
    assert condition("blur 1.8") is condition("blur-1.8") is condition("blur_1.8") is CONDITIONS["blur 1.8"]
    with pytest.raises(ValueError, match=r"unknown camera condition 'blur 3'; choose from blur-1\.0, blur-1\.8"):
        condition("blur 3")
    faces, codes = synthetic_faces(4, seed=4)
    labels = np.eye(7, dtype=np.float32)[codes]
    seen = through_camera(Dataset(faces, labels), "noise-12")
    assert np.array_equal(seen.labels, labels) and np.array_equal(seen.images, degrade_all(faces, CONDITIONS["noise 12"]))


def test_each_condition_does_what_its_name_says() -> None:
    faces, _ = synthetic_faces(12, seed=2)
    mean = float(faces.mean())
    for level in ("blur 1.0", "blur 1.8", "lowres 24", "lowres 16"):
        assert _energy(degrade_all(faces, CONDITIONS[level])) < 0.6 * _energy(faces), f"{level} takes detail away"
    assert _energy(degrade_all(faces, CONDITIONS["blur 1.8"])) < _energy(degrade_all(faces, CONDITIONS["blur 1.0"]))
    assert float(degrade_all(faces, CONDITIONS["dark 0.25"]).mean()) < 0.3 * mean
    assert float(degrade_all(faces, CONDITIONS["bright 2.2"]).mean()) > 1.5 * mean
    dark = degrade_all(faces, CONDITIONS["dark 0.25"])
    assert len(np.unique(dark)) < 70, "a dark face keeps few grey levels"
    noisy = degrade_all(faces, CONDITIONS["noise 12"]).astype(np.float64) - faces
    assert 8 < noisy.std() < 14
    for quality in (30, 12):
        ok, data = cv2.imencode(".jpg", faces[0, :, :, 0], [cv2.IMWRITE_JPEG_QUALITY, quality])
        assert ok and np.array_equal(degrade_all(faces[:1], CONDITIONS[f"jpeg {quality}"])[0, :, :, 0], np.asarray(cv2.imdecode(data, 0)))


@pytest.mark.parametrize("which", ["valid", "holdout"])
def test_the_script_scores_a_served_model_through_every_condition(tmp_path: Path, which: str) -> None:
    faces, codes = synthetic_faces(120, seed=3)
    usages = np.array(["Training"] * 80 + ["PublicTest"] * 40)
    votes = np.zeros((len(codes), 10), np.float32)
    votes[np.arange(len(codes)), codes] = 8.0  # a clear FER+ majority: the face's class
    votes[:, 8] = 2.0
    pack = write_npz(FerTable(faces, codes, usages, votes), tmp_path / "pack.npz")
    out = tmp_path / "robustness.json"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts/camera_robustness.py"), "--model", "fast", "--data", str(pack), "--faces", which, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text())
    held = len(split_rows(strata_of(codes[:80], votes[:80]), 0.1)[1])  # a tenth of each class, as emostream train --holdout holds out
    assert report["faces"] == (40 if which == "valid" else held) and held < 80, "FER+ Valid is PublicTest; the holdout a tenth of Training"
    row = report["results"]["fast"]
    assert set(CONDITIONS) <= set(row) and {"clean", "clean macro F1", "mean degraded"} <= set(row)
    assert all(0.0 <= row[name] <= 100.0 for name in ["clean", *CONDITIONS])
    assert row["mean degraded"] == pytest.approx(np.mean([row[n] for n in CONDITIONS]), abs=0.01)
    assert "| mean degraded |" in done.stdout
