"""The class prior ``emostream export`` writes into the model card: the class shares of the training labels.

The classifier divides each probability by ``prior ** prior_tau``
(:mod:`emostream.classifier.priors`); the prior is the one the model learnt,
so the shares come from the labels the run trained on (``run.json``'s
``labels`` and ``train_usage``): the mean vote shares for FER+ soft targets,
the majority shares for ``ferplus-majority``, FER2013's labels for
``fer2013``. Without a ``run.json``: the FER+ majority shares of Training when
the data has FER+ votes, else FER2013's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from emostream.training.data import load_image_folder
from emostream.training.table import labelled, load_table

# A class absent from the training labels (a small test set) gets this share, not 0: log 0 is not a logit.
SMALLEST_SHARE = 1e-4


def training_prior(data: Path, run: dict[str, Any] | None) -> tuple[list[float], dict[str, Any]]:
    """The class shares of the training labels in ``data`` (EMOTIONS order, summing to 1) and where they come from."""
    data, run = Path(data), run or {}
    if data.is_dir():
        folder = data / "train" if (data / "train").is_dir() else data
        labels = load_image_folder(folder).labels
        source: dict[str, Any] = {"data": str(folder), "labels": "image folder"}
    else:
        ferplus = run.get("ferplus")
        table = load_table(data, Path(ferplus) if ferplus and Path(ferplus).exists() else None)
        kind = run.get("labels") or ("ferplus-majority" if table.votes is not None else "fer2013")
        usage = run.get("train_usage") or "Training"
        labels = labelled(table, usage, kind).labels
        source = {"data": str(data), "usage": usage, "labels": kind, "faces": len(labels)}
    if len(labels) == 0:
        raise ValueError(f"{data}: no training labels to compute the class prior from")
    shares = np.maximum(np.asarray(labels, dtype=np.float64).mean(axis=0), SMALLEST_SHARE)
    shares /= shares.sum()
    return [round(float(p), 6) for p in shares], source
