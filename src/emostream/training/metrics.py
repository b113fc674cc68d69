"""Classification metrics in plain numpy, so evaluation needs no scikit-learn.

Everything derives from one confusion matrix (rows: true class, columns:
predicted class), which keeps the numbers in a report consistent with each
other and with the matrix printed next to them.

Zero divisions (a class never predicted, or never present) score 0, as
scikit-learn's ``zero_division=0`` does. Macro averages run over the classes
that occur in the true or the predicted labels, like scikit-learn without an
explicit ``labels`` list: a class absent from a small test slice neither counts
as a failure nor inflates the average.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts (num_classes, num_classes): entry [t, p] is how often class t was predicted as p."""
    y_true = np.asarray(y_true).astype(np.int64, copy=False).ravel()
    y_pred = np.asarray(y_pred).astype(np.int64, copy=False).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{y_true.size} true labels but {y_pred.size} predictions")
    for name, values in (("true", y_true), ("predicted", y_pred)):
        if values.size and (values.min() < 0 or values.max() >= num_classes):
            raise ValueError(f"{name} labels must lie in 0..{num_classes - 1}")
    counts: np.ndarray = np.bincount(y_true * num_classes + y_pred, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    num = numerator.astype(np.float64)
    out = np.zeros_like(num)
    np.divide(num, denominator, out=out, where=denominator > 0)
    return out


@dataclass(frozen=True)
class ClassScores:
    """Per-class scores, each an array indexed by class."""

    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray  # true samples of each class
    predicted: np.ndarray  # samples predicted as each class

    @property
    def present(self) -> np.ndarray:
        """Classes that occur among the true or the predicted labels."""
        return (self.support > 0) | (self.predicted > 0)


def class_scores(cm: np.ndarray) -> ClassScores:
    """Precision, recall and F1 of every class from a confusion matrix."""
    cm = np.asarray(cm)
    hits = np.diag(cm)
    support, predicted = cm.sum(axis=1), cm.sum(axis=0)
    precision, recall = _ratio(hits, predicted), _ratio(hits, support)
    f1 = _ratio(2 * precision * recall, precision + recall)
    return ClassScores(precision, recall, f1, support, predicted)


def accuracy(cm: np.ndarray) -> float:
    total = np.asarray(cm).sum()
    return float(np.trace(cm) / total) if total else 0.0


def _macro(values: np.ndarray, scores: ClassScores) -> float:
    present = scores.present
    return float(values[present].mean()) if present.any() else 0.0


def macro_f1(cm: np.ndarray) -> float:
    """Unweighted mean F1 over the classes present (see the module docstring)."""
    scores = class_scores(cm)
    return _macro(scores.f1, scores)


def classification_report(y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[str]) -> dict[str, Any]:
    """All metrics as a JSON-ready dict; ``confusion_matrix`` rows are true classes."""
    cm = confusion_matrix(y_true, y_pred, len(classes))
    scores = class_scores(cm)
    total = int(cm.sum())
    weighted_f1 = float((scores.f1 * scores.support).sum() / total) if total else 0.0
    return {
        "samples": total,
        "classes": list(classes),
        "accuracy": accuracy(cm),
        "macro_f1": _macro(scores.f1, scores),
        "macro_precision": _macro(scores.precision, scores),
        "macro_recall": _macro(scores.recall, scores),
        "weighted_f1": weighted_f1,
        "per_class": {
            name: {
                "precision": float(scores.precision[i]),
                "recall": float(scores.recall[i]),
                "f1": float(scores.f1[i]),
                "support": int(scores.support[i]),
            }
            for i, name in enumerate(classes)
        },
        "confusion_matrix": cm.tolist(),
    }
