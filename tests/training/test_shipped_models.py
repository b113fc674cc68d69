"""The models emostream ships, re-scored as the classifier serves them: FER+ Valid and FER2013 PublicTest.

These are real evaluations of the packaged files (through the classifier's
own runtime, the card's preprocessing and TTA, the TFLite file the card
serves), not a reading of the numbers written in the cards: a broken export,
a wrong preprocessing or a swapped file fails here. Speed is not asserted
here; it is measured by the benchmarks.
"""

from __future__ import annotations

import pytest

from emostream.infra.modelcard import DEFAULT_MODEL, load_card, packaged_models_dir
from emostream.training.data import Dataset
from emostream.training.evaluate import evaluate
from emostream.training.robustness import HARSH, through_camera
from emostream.training.table import FerTable, labelled, load_table

from .conftest import FER_CSV, FERPLUS_CSV, NO_FER_REASON

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not FER_CSV.is_file(), reason=NO_FER_REASON)]

BASELINE = "mini-xception"
PREVIOUS_DEFAULT_FERPLUS = 0.6699  # `ensemble` (FER2013 labels) on FER+ Valid as served, docs/MODEL.md
FERPLUS_TARGET = 0.83  # issue 14: the CPU default agrees with the FER+ majority on >= 83% of FER+ Valid
ACCURATE = "accurate"
ACCURATE_TARGET = 0.86  # issue 14: the accurate model (GPUs, large CPUs) agrees on >= 86% of FER+ Valid
FOLDER_LIMIT = 5_000_000  # issue 14: the default's folder is at most 5 MB
#: Issue 23: the default's mean FER+ Valid agreement over the harsh level of each camera condition
#: (emostream.training.robustness; docs/MODEL.md, "Faces as cameras give them"). `fast` 1.1.0, trained on web photos
#: alone, read 63.9 %; 1.2.0, fine-tuned through a simulated camera, 75.5 %.
CAMERA_FLOOR = 0.72


def _ours() -> list[str]:
    root = packaged_models_dir()
    return sorted(p.name for p in root.iterdir() if (p / "model.json").is_file() and p.name != BASELINE)


@pytest.fixture(scope="module")
def table() -> FerTable:
    return load_table(FER_CSV, FERPLUS_CSV if FERPLUS_CSV.is_file() else None)


@pytest.fixture(scope="module")
def public_test(table: FerTable) -> Dataset:
    return labelled(table, "PublicTest", "fer2013")


@pytest.fixture(scope="module")
def ferplus_valid(table: FerTable) -> Dataset:
    if table.votes is None:
        pytest.skip(f"FER+ votes not found at {FERPLUS_CSV}")
    return labelled(table, "PublicTest", "ferplus-majority")


@pytest.mark.parametrize("name", _ours())
def test_packaged_model_scores_what_its_card_says_on_public_test(name: str, public_test: Dataset) -> None:
    card = load_card(name)
    recorded = card.extra["metrics"]
    assert recorded["data"]["labels"] == "fer2013" and recorded["samples"] == len(public_test) == 3589
    for fmt in card.files:
        report = evaluate(name, public_test, fmt=fmt)
        assert report["accuracy"] == pytest.approx(recorded["accuracy"], abs=0.005), f"{name} ({fmt}): {report['accuracy']:.4f} vs card"


@pytest.mark.parametrize("name", [n for n in _ours() if "metrics_ferplus" in load_card(n).extra])
def test_packaged_model_scores_what_its_card_says_on_ferplus_valid(name: str, ferplus_valid: Dataset) -> None:
    recorded = load_card(name).extra["metrics_ferplus"]
    assert recorded["data"]["labels"] == "ferplus-majority" and recorded["samples"] == len(ferplus_valid)
    report = evaluate(name, ferplus_valid, fmt="tflite")
    assert report["accuracy"] == pytest.approx(recorded["accuracy"], abs=0.005), f"{name}: {report['accuracy']:.4f} vs card"


@pytest.fixture(scope="module")
def default_agreement(ferplus_valid: Dataset) -> float:
    """The default's FER+ Valid agreement as served, measured once for the tests that compare against it."""
    return float(evaluate(DEFAULT_MODEL, ferplus_valid, fmt="tflite")["accuracy"])


def test_the_default_is_ours_small_and_agrees_with_people_more_than_the_previous_default(
    ferplus_valid: Dataset, default_agreement: float
) -> None:
    card = load_card()
    assert card.folder.name == DEFAULT_MODEL != BASELINE, "the default must be a model emostream trained"
    size = sum(p.stat().st_size for p in card.folder.iterdir() if p.is_file())
    assert size <= FOLDER_LIMIT, f"the default's folder is {size / 1e6:.2f} MB"
    agreement = default_agreement
    assert agreement > PREVIOUS_DEFAULT_FERPLUS, f"{DEFAULT_MODEL} agrees with FER+ on {agreement:.4f} of FER+ Valid"
    baseline = evaluate(BASELINE, ferplus_valid, fmt="tflite")["accuracy"]
    assert agreement > baseline, f"the baseline agrees on {baseline:.4f}"


def test_the_default_reaches_the_ferplus_target(default_agreement: float) -> None:
    agreement = default_agreement
    assert agreement >= FERPLUS_TARGET, f"{DEFAULT_MODEL}: {agreement:.4f} on FER+ Valid, target {FERPLUS_TARGET}"


def test_the_default_reads_faces_as_cameras_give_them(ferplus_valid: Dataset, default_agreement: float) -> None:
    readings = {}
    for name in HARSH:
        readings[name] = float(evaluate(DEFAULT_MODEL, through_camera(ferplus_valid, name), fmt="tflite")["accuracy"])
    mean = sum(readings.values()) / len(readings)
    assert mean >= CAMERA_FLOOR, f"{DEFAULT_MODEL} on FER+ Valid through a camera: {readings}, mean {mean:.4f}"
    assert all(r < default_agreement for r in readings.values()), "each condition is harder than the clean faces"


def test_the_accurate_model_reaches_its_target_and_beats_the_default(ferplus_valid: Dataset, default_agreement: float) -> None:
    # Every file the card lists, as served (the card's TTA): the Keras file for GPUs and the TFLite file for CPUs.
    card = load_card(ACCURATE)
    members = card.extra["training"]["members"]
    assert len(members) >= 2 and all(m["labels"] == "ferplus-soft" for m in members), "an ensemble trained on the FER+ votes"
    default = default_agreement
    for fmt in card.files:
        agreement = evaluate(ACCURATE, ferplus_valid, fmt=fmt)["accuracy"]
        assert agreement >= ACCURATE_TARGET, f"{ACCURATE} ({fmt}): {agreement:.4f} on FER+ Valid, target {ACCURATE_TARGET}"
        assert agreement > default, f"{ACCURATE} ({fmt}) {agreement:.4f} should agree with people more than {DEFAULT_MODEL} ({default:.4f})"
