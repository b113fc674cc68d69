"""A seeded, stratified share of the training rows, held out for model selection.

Selecting the best epoch (or an ensemble's members, or a calibration) on the
faces a model is reported on makes the report optimistic: issue 28 found the
``accurate`` tier 0.5 points lower on fresh faces than on the FER+ Valid
figure its epochs were chosen on. ``emostream train --holdout 0.1`` therefore
selects on a tenth of Training and scores FER+ Valid (PublicTest) once, on the
model that selection chose.

The split depends only on the rows and ``holdout_seed``, never on the run's
``--seed``, so every member of an ensemble and every run on the same data holds
out the same faces: an ensemble, or priors tuned afterwards, can then be
judged on faces no member trained on. Strata are the FER+ majority vote when
the data has FER+ votes (the label the holdout is scored with), else the
FER2013 label: each class keeps its share in both parts, which matters for the
classes with a few hundred faces (disgust, fear).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from emostream.training.table import FerTable

HOLDOUT_SEED = 28  # issue 28; fixed so that every run on the same data holds out the same faces


def split_rows(strata: np.ndarray, fraction: float, seed: int = HOLDOUT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """(kept, held out): positions into ``strata``, both sorted; ``fraction`` of each stratum is held out.

    Each stratum gives ``round(fraction * n)`` rows, at least one when it has two
    or more, so a rare class is never missing from the selection set; a stratum
    of one row stays in training.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"--holdout must lie strictly between 0 and 1, got {fraction}")
    strata = np.asarray(strata)
    rng = np.random.default_rng(seed)
    held: list[np.ndarray] = []
    for value in np.unique(strata):
        members = np.flatnonzero(strata == value)
        take = min(max(round(fraction * len(members)), 1), len(members) - 1) if len(members) >= 2 else 0
        held.append(rng.permutation(members)[:take])
    out = np.sort(np.concatenate(held)) if held else np.zeros(0, dtype=np.int64)
    keep = np.setdiff1d(np.arange(len(strata)), out, assume_unique=True)
    return keep, out


def strata_of(codes: np.ndarray, votes: np.ndarray | None) -> np.ndarray:
    """The class each row is stratified by: its largest FER+ vote (10 columns) when there are votes, else its FER2013 label."""
    if votes is None:
        return np.asarray(codes)
    return np.asarray(np.argmax(votes, axis=1))


def split_table(table: FerTable, usage: str, fraction: float, seed: int = HOLDOUT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """(kept, held out) row indices of ``usage`` in ``table``, stratified as ``emostream train --holdout`` splits them."""
    rows = table.rows(usage)
    keep, held = split_rows(strata_of(table.codes[rows], None if table.votes is None else table.votes[rows]), fraction, seed)
    return rows[keep], rows[held]

