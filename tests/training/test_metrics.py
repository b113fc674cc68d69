"""Metrics on hand-computed cases, and against a naive reference on random labels."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emostream.training.metrics import accuracy, class_scores, classification_report, confusion_matrix, macro_f1

CLASSES = ("a", "b", "c")


def test_confusion_matrix_counts_true_rows_against_predicted_columns() -> None:
    y_true = [0, 0, 0, 1, 1, 2]
    y_pred = [0, 1, 0, 1, 2, 2]
    cm = confusion_matrix(np.array(y_true), np.array(y_pred), 3)
    expected = [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert cm.tolist() == expected, f"rows must be true classes, columns predictions; got {cm.tolist()}"


def test_report_on_a_constructed_case_matches_hand_computed_values() -> None:
    # Given: a: 3 true, predicted a,a,b; b: 2 true, predicted b,c; c: 1 true, predicted c.
    y_true = np.array([0, 0, 0, 1, 1, 2])
    y_pred = np.array([0, 0, 1, 1, 2, 2])
    report = classification_report(y_true, y_pred, CLASSES)
    # precision a=2/2, b=1/2, c=1/2; recall a=2/3, b=1/2, c=1/1
    f1 = {"a": 2 * 1 * (2 / 3) / (1 + 2 / 3), "b": 0.5, "c": 2 * 0.5 * 1 / 1.5}
    assert report["accuracy"] == pytest.approx(4 / 6), "accuracy is hits over samples"
    for name, (p, r) in {"a": (1.0, 2 / 3), "b": (0.5, 0.5), "c": (0.5, 1.0)}.items():
        got = report["per_class"][name]
        assert got["precision"] == pytest.approx(p), f"precision of {name}"
        assert got["recall"] == pytest.approx(r), f"recall of {name}"
        assert got["f1"] == pytest.approx(f1[name]), f"F1 of {name}"
    assert [report["per_class"][c]["support"] for c in CLASSES] == [3, 2, 1]
    assert report["macro_f1"] == pytest.approx(sum(f1.values()) / 3), "macro F1 is the unweighted mean"
    assert report["weighted_f1"] == pytest.approx((3 * f1["a"] + 2 * f1["b"] + f1["c"]) / 6)
    assert report["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert report["samples"] == 6


def test_a_class_never_predicted_scores_zero_without_dividing_by_zero() -> None:
    cm = confusion_matrix(np.array([0, 1, 1]), np.array([0, 0, 0]), 3)
    scores = class_scores(cm)
    assert scores.precision[1] == 0.0 and scores.recall[1] == 0.0 and scores.f1[1] == 0.0
    assert not np.isnan(scores.f1).any(), "zero divisions must give 0, not NaN"


def test_macro_f1_ignores_classes_absent_from_both_labels_and_predictions() -> None:
    # Class 2 never occurs: it must not drag the average down to 2/3.
    cm = confusion_matrix(np.array([0, 1]), np.array([0, 1]), 3)
    assert macro_f1(cm) == pytest.approx(1.0), "perfect predictions on the classes present give macro F1 1"


def test_labels_outside_the_classes_are_rejected() -> None:
    with pytest.raises(ValueError, match=r"0\.\.2"):
        confusion_matrix(np.array([0, 3]), np.array([0, 1]), 3)
    with pytest.raises(ValueError, match="predictions"):
        confusion_matrix(np.array([0, 1]), np.array([0]), 3)


def test_empty_input_gives_zero_scores() -> None:
    cm = confusion_matrix(np.array([], int), np.array([], int), 3)
    assert accuracy(cm) == 0.0 and macro_f1(cm) == 0.0


def _naive(y_true: list[int], y_pred: list[int], k: int) -> tuple[float, list[float]]:
    f1s = []
    for c in range(k):
        tp = sum(t == c and p == c for t, p in zip(y_true, y_pred, strict=True))
        fp = sum(t != c and p == c for t, p in zip(y_true, y_pred, strict=True))
        fn = sum(t == c and p != c for t, p in zip(y_true, y_pred, strict=True))
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        f1s.append(2 * prec * rec / (prec + rec) if prec + rec else 0.0)
    acc = sum(t == p for t, p in zip(y_true, y_pred, strict=True)) / len(y_true)
    return acc, f1s


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), min_size=1, max_size=80))
def test_metrics_agree_with_a_naive_per_class_count(pairs: list[tuple[int, int]]) -> None:
    y_true, y_pred = [t for t, _ in pairs], [p for _, p in pairs]
    report = classification_report(np.array(y_true), np.array(y_pred), tuple("abcdefg"))
    acc, f1s = _naive(y_true, y_pred, 7)
    present = sorted(set(y_true) | set(y_pred))
    assert report["accuracy"] == pytest.approx(acc)
    assert [report["per_class"][c]["f1"] for c in "abcdefg"] == pytest.approx(f1s)
    assert report["macro_f1"] == pytest.approx(np.mean([f1s[c] for c in present]))
    assert np.sum(report["confusion_matrix"]) == len(pairs), "every sample lands in one cell"
