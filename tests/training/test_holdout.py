"""The holdout that selects a run's best epoch: a seeded, stratified share of Training, never FER+ Valid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from emostream.training.holdout import split_rows, strata_of
from emostream.training.options import TrainOptions
from emostream.training.selection import load_reported, load_splits
from emostream.training.table import load_table

from .conftest import FerSlice


def test_split_is_stratified_disjoint_and_complete() -> None:
    strata = np.repeat(np.arange(7), [4000, 400, 1000, 7000, 3000, 3000, 5000])
    keep, held = split_rows(strata, 0.1, seed=3)
    assert np.intersect1d(keep, held).size == 0, "a face must not be both trained on and held out"
    assert np.array_equal(np.sort(np.concatenate([keep, held])), np.arange(len(strata))), "every row lands in one part"
    for cls in range(7):
        n = int((strata == cls).sum())
        assert int((strata[held] == cls).sum()) == round(0.1 * n), f"class {cls} should give 10% of its {n} rows"


def test_split_depends_on_its_seed_only() -> None:
    strata = np.random.default_rng(0).integers(0, 7, 2000)
    first, again, other = split_rows(strata, 0.2, 5)[1], split_rows(strata, 0.2, 5)[1], split_rows(strata, 0.2, 6)[1]
    assert np.array_equal(first, again), "the same seed must hold out the same rows (every run, every ensemble member)"
    assert not np.array_equal(first, other), "another seed should hold out other rows"


def test_a_rare_class_is_never_missing_from_either_part() -> None:
    strata = np.array([0] * 100 + [1] * 3 + [2])
    keep, held = split_rows(strata, 0.1)
    assert set(strata[held]) == {0, 1}, "a class with 3 rows still gives one to the holdout"
    assert 2 in set(strata[keep]), "a class with a single row stays in training"


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1])
def test_split_refuses_fractions_outside_0_1(fraction: float) -> None:
    with pytest.raises(ValueError, match="--holdout"):
        split_rows(np.zeros(10), fraction)


def test_strata_follow_the_ferplus_majority_when_there_are_votes() -> None:
    codes = np.array([0, 3])
    votes = np.zeros((2, 10), np.float32)
    votes[0, 6], votes[1, 3] = 8, 9
    assert list(strata_of(codes, votes)) == [6, 3], "the FER+ majority, the label the holdout is scored with"
    assert list(strata_of(codes, None)) == [0, 3], "without votes, FER2013's own label"


def test_holdout_selects_on_training_rows_and_reports_on_publictest(real_fer_slice: FerSlice, tmp_path: Path) -> None:
    if real_fer_slice.ferplus is None:
        pytest.skip("fer2013new.csv is not in the shared FER2013 folder")
    opts = TrainOptions(data=real_fer_slice.csv, out=tmp_path, labels="ferplus-soft", ferplus=real_fer_slice.ferplus, holdout=0.2)
    train, select = load_splits(opts)
    reported = load_reported(opts)
    table = load_table(real_fer_slice.csv, real_fer_slice.ferplus)
    training, public = table.images[table.rows("Training")], table.images[table.rows("PublicTest")]

    def rows_of(images: np.ndarray, pool: np.ndarray) -> set[int]:
        flat = pool.reshape(len(pool), -1)
        return {int(np.flatnonzero((flat == img.ravel()).all(axis=1))[0]) for img in images} if len(images) else set()

    held, trained = rows_of(select.images, training), rows_of(train.images, training)
    assert held and not held & trained, "the holdout faces must be Training faces the model never trains on"
    assert len(select) < 0.25 * (len(train) + len(select)), "about a fifth of the usable Training faces is held out"
    assert rows_of(reported.images, public) == set(range(len(public))) - _not_majority(table), "the report is FER+ Valid"
    assert np.all(select.labels.max(axis=1) == 1.0), "the holdout is scored with the majority rule, like FER+ Valid"


def _not_majority(table: object) -> set[int]:
    from emostream.training.ferplus import majority_mask

    votes = table.votes[table.rows("PublicTest")]  # type: ignore[attr-defined]
    return {int(i) for i in np.flatnonzero(~majority_mask(votes))}


def test_privatetest_is_refused_for_selection_and_report(fer_slice: FerSlice, tmp_path: Path) -> None:
    opts = TrainOptions(data=fer_slice.csv, out=tmp_path, val_usage="PrivateTest", holdout=0.1)
    with pytest.raises(ValueError, match="PrivateTest is held out"):
        load_splits(opts)
    with pytest.raises(ValueError, match="PrivateTest is held out"):
        load_reported(opts)
