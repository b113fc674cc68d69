"""FER+ votes (Barsoum et al. 2016): ten annotators per FER2013 face, turned into labels.

Details at :func:`majority_mask`.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from emostream.infra.emotions import EMOTIONS
from emostream.training.textio import open_text

# FER+ columns mapped onto our classes; contempt, unknown and NF have no class.
FERPLUS_TO_OURS = {
    "anger": "angry",
    "disgust": "disgust",
    "fear": "fear",
    "happiness": "happy",
    "sadness": "sad",
    "surprise": "surprise",
    "neutral": "neutral",
}
# Vote arrays in this package use our seven classes in EMOTIONS order, then these three.
EXTRA_COLUMNS = ("contempt", "unknown", "NF")
VOTE_COLUMNS = tuple(EMOTIONS) + EXTRA_COLUMNS
_OURS = len(EMOTIONS)


class FerPlusError(ValueError):
    """``fer2013new.csv`` is malformed; the message names the file and line."""


def read_votes(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read ``fer2013new.csv``: (votes (N, 10) float32 in :data:`VOTE_COLUMNS` order, usages (N,))."""
    path = Path(path)
    order = [_ferplus_name(c) for c in VOTE_COLUMNS]
    votes, usages = [], []
    with open_text(path) as handle:
        reader = csv.DictReader(handle)
        missing = {"Usage", *FERPLUS_TO_OURS} - set(reader.fieldnames or ())
        if missing:
            raise FerPlusError(f"{path}:1: missing FER+ column(s) {sorted(missing)}")
        for line, row in enumerate(reader, start=2):
            try:
                # Older copies lack contempt/unknown/NF: those count as no votes.
                counts = [float(row.get(c) or 0.0) for c in order]
            except (TypeError, ValueError):
                raise FerPlusError(f"{path}:{line}: vote counts must be numbers") from None
            if not all(math.isfinite(v) for v in counts):
                raise FerPlusError(f"{path}:{line}: vote counts must be finite numbers")
            if any(v < 0 for v in counts):
                raise FerPlusError(f"{path}:{line}: vote counts must not be negative")
            votes.append(counts)
            usages.append(row["Usage"])
    return np.array(votes, dtype=np.float32).reshape(-1, len(VOTE_COLUMNS)), np.array(usages)


def _ferplus_name(ours: str) -> str:
    for theirs, mine in FERPLUS_TO_OURS.items():
        if mine == ours:
            return theirs
    return ours


def majority_mask(votes: np.ndarray) -> np.ndarray:
    """The evaluation rule: True where one class has strictly the most votes and it is one of ours.

    ``fer2013new.csv`` has one row per FER2013 row, in the same order, with vote
    counts for ten columns: our seven emotions plus contempt, unknown and NF
    (not a face). Two uses, one rule each, both defined here and nowhere else:

    - **Evaluation** (:func:`majority_mask`): a face counts when its votes have a
      single largest class and that class is one of our seven. Faces whose largest
      vote is contempt, unknown or not-a-face, or is tied, are left out. The label
      is that class. This is the agreement-with-the-majority figure of
      ``docs/MODEL.md``.
    - **Training** (:func:`soft_targets`): the vote distribution over our seven
      classes, after Barsoum et al.'s outlier removal (a class with a single vote
      is taken for annotator noise and dropped). Faces whose largest vote (after
      that removal) is contempt, unknown or not-a-face are left out, since our
      classes cannot describe them; ties among our classes stay in as split
      targets, which is exactly what soft labels are for.
    """
    votes = np.asarray(votes, dtype=np.float32)
    top = votes.max(axis=1, keepdims=True)
    unique = (votes == top).sum(axis=1) == 1
    return np.asarray(unique & (np.argmax(votes, axis=1) < _OURS) & (top[:, 0] > 0))


def majority_labels(votes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(one-hot labels (N, 7), mask): the majority class of each face the evaluation rule keeps."""
    mask = majority_mask(votes)
    labels = np.zeros((len(votes), _OURS), dtype=np.float32)
    labels[mask, np.argmax(votes[mask, :_OURS], axis=1)] = 1.0
    return labels, mask


def soft_targets(votes: np.ndarray, drop_single: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(vote shares over our classes (N, 7), mask of usable faces), as Barsoum et al. train.

    ``drop_single`` removes classes with one vote before anything else (their
    outlier removal). A face is usable when votes for our classes remain and
    its largest vote is one of ours (ties with contempt/unknown/NF included).
    """
    votes = np.asarray(votes, dtype=np.float32).copy()
    if drop_single:
        votes[votes <= 1.0] = 0.0
    ours = votes[:, :_OURS]
    totals = ours.sum(axis=1)
    usable = (totals > 0) & (ours.max(axis=1) >= votes[:, _OURS:].max(axis=1))
    shares = np.zeros_like(ours)
    shares[usable] = ours[usable] / totals[usable, None]
    return shares, usable
