"""Scoring an exported folder as the classifier serves it, and the training faces export checks against."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from emostream.infra.modelcard import load_card, write_card
from emostream.training.data import load_image_folder
from emostream.training.evalreport import write_outputs
from emostream.training.evaluate import evaluate, load_eval_data
from emostream.training.provenance import headline_metrics
from emostream.training.table import is_npz, load_table

log = logging.getLogger(__name__)


def score_folder(
    folder: Path, data: Path, usage: str, out: Path | None, labels: str = "fer2013", ferplus: Path | None = None
) -> dict[str, Any]:
    """Evaluate an exported folder as the classifier serves it on a CPU (TFLite when it has one).

    ``labels="ferplus-majority"`` scores agreement with the FER+ majority under
    the rule of :func:`emostream.training.ferplus.majority_mask`.
    """
    card = load_card(folder)
    fmt = "tflite" if "tflite" in card.files else "keras"
    log.info("scoring %s (%s) on %s %s, %s labels", folder, fmt, data, usage, labels)
    report = evaluate(folder, load_eval_data(data, usage, labels, ferplus), fmt=fmt)
    report["data"] = {"path": str(data), "usage": usage, "labels": labels, "ferplus": str(ferplus) if ferplus else None, "limit": 0}
    if out is not None:
        write_outputs(report, out)
    return headline_metrics(report, str(out / "report.json") if out else "computed by emostream export --score")


def training_images(data: Path, run: dict[str, Any] | None) -> np.ndarray:
    """uint8 training faces for int8 calibration and the agreement check."""
    data = Path(data)
    if data.is_dir():
        return load_image_folder(data / "train" if (data / "train").is_dir() else data).images
    usage = (run or {}).get("train_usage") or "Training"
    table = load_table(data)
    return np.asarray(table.images[table.rows(usage)])


def score_into_card(out: Path, body: dict[str, Any], score: Path, usage: str, score_out: Path | None, ferplus: Path | None) -> None:
    """Evaluate the written folder as served and put its metrics in the card (FER+ agreement too, when there are FER+ labels)."""
    body["metrics"] = score_folder(out, score, usage, score_out)
    if ferplus is not None or is_npz(score):
        # FER+ agreement as served, beside FER2013 accuracy: the figure the targets are stated in.
        ferplus_out = score_out / "ferplus" if score_out else None
        body["metrics_ferplus"] = score_folder(out, score, usage, ferplus_out, "ferplus-majority", ferplus)
    write_card(out, body)
