"""What a model card says about where a model comes from and how well it does.

The ``training`` section is read from the run folder next to the exported
Keras file (``run.json`` and ``state.json`` as ``emostream train`` writes
them, or ``ensemble.json`` for an ensemble); the ``metrics`` section from an
``emostream evaluate`` report.
"""

from __future__ import annotations

import json
import logging
import shlex
from pathlib import Path
from typing import Any

from emostream.infra.modelcard import sha256_of
from emostream.training.ensemble import MANIFEST

log = logging.getLogger(__name__)


def train_command(run: dict[str, Any]) -> list[str]:
    """The ``emostream train`` command line that reproduces the options in ``run.json``.

    Every option is spelled out, defaults included, so the command still means
    the same run after a later release changes a default.
    """
    model, augment = run.get("model", {}), run.get("augment", {})
    cmd = ["emostream", "train", "--data", str(run["data"]), "--out", str(run["out"])]
    flags = {
        "--architecture": run.get("architecture"),
        "--labels": run.get("labels"),
        "--ferplus": run.get("ferplus"),
        "--train-usage": run.get("train_usage"),
        "--val-usage": run.get("val_usage"),
        "--holdout": run.get("holdout") or None,
        "--holdout-seed": run.get("holdout_seed") if run.get("holdout") else None,
        "--limit": run.get("limit"),
        "--epochs": run.get("epochs"),
        "--batch-size": run.get("batch_size"),
        "--steps-per-epoch": run.get("steps_per_epoch"),
        "--optimizer": run.get("optimizer"),
        "--learning-rate": run.get("learning_rate"),
        "--weight-decay": run.get("weight_decay"),
        "--lr-schedule": run.get("lr_schedule"),
        "--warmup-epochs": run.get("warmup_epochs"),
        "--patience": run.get("patience"),
        "--label-smoothing": run.get("label_smoothing"),
        "--class-weights": run.get("class_weights"),
        "--teacher-weight": run.get("teacher_weight") if run.get("teacher") else None,
        "--teacher-temperature": run.get("teacher_temperature") if run.get("teacher") else None,
        "--seed": run.get("seed"),
        "--init-from": run.get("init_from"),
        "--input-size": model.get("input_size"),
        "--l2": model.get("l2"),
        "--dropout": model.get("dropout"),
        "--unfreeze": model.get("unfreeze"),
        "--weights": model.get("weights", "none") or "none",
        "--rotation": augment.get("rotation_deg"),
        "--shift": augment.get("shift"),
        "--zoom": augment.get("zoom"),
        "--contrast": augment.get("contrast"),
        "--erasing": augment.get("erasing"),
        "--camera": augment.get("camera"),
        "--mixup": augment.get("mixup"),
        "--cutmix": augment.get("cutmix"),
    }
    for flag, value in flags.items():
        if value is not None:
            cmd += [flag, str(value)]
    for teacher in run.get("teacher") or ():
        cmd += ["--teacher", str(teacher)]
    if "dense" in model:
        cmd += ["--dense", *map(str, model["dense"])]
    if augment.get("flip") is False:
        cmd.append("--no-flip")
    return cmd


def read_json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.is_file() else None


def training_section(model_path: Path) -> dict[str, Any]:
    """The card's ``training`` field, from the run folder around ``model_path``.

    For an ensemble (``ensemble.json`` beside it, see ``emostream ensemble``)
    it lists every member's training instead.
    """
    folder = model_path.parent
    section: dict[str, Any] = {"source_model": str(model_path), "source_sha256": sha256_of(model_path)}
    manifest = read_json(folder / MANIFEST)
    if manifest is not None:
        section["combination"] = manifest.get("combination")
        section["members"] = [
            {"source_model": m.get("path"), "source_sha256": m.get("sha256"), **_run_section(m.get("run"), m.get("state"))}
            for m in manifest.get("members", [])
        ]
        return section
    section.update(_run_section(read_json(folder / "run.json"), read_json(folder / "state.json")))
    if "data" not in section:
        section["note"] = f"no run.json next to {model_path.name}: training data and options unknown"
    return section


def _run_section(run: dict[str, Any] | None, state: dict[str, Any] | None) -> dict[str, Any]:
    """What ``run.json`` and ``state.json`` of a training run say about it."""
    section: dict[str, Any] = {}
    if run is None:
        return section
    section.update(
        data=run.get("data"),
        labels=run.get("labels"),
        ferplus=run.get("ferplus"),
        train_usage=run.get("train_usage"),
        val_usage=run.get("val_usage"),
        selected_on=selected_on(run),
        architecture=run.get("architecture"),
        command=shlex.join(train_command(run)),
        options=run,
    )
    if state is not None:
        section.update(
            epochs=state.get("epoch"),
            best_epoch=state.get("best_epoch"),
            best_val_accuracy=state.get("best"),
            finished=state.get("done"),
        )
        if state.get("reported"):
            # Scored once after selection on the holdout had finished: the honest figure.
            section["reported_once"] = state["reported"]
    return section


def selected_on(run: dict[str, Any]) -> str:
    """Which faces chose the best epoch, in words: a holdout of the training rows, or the validation rows."""
    if run.get("holdout"):
        return f"holdout: {run['holdout']:.0%} of {run.get('train_usage', 'Training')}, stratified, seed {run.get('holdout_seed')}"
    return f"{run.get('val_usage')} (the reported rows; figures are best-epoch optimistic)"


def metrics_section(report_path: Path, source_sha256: str, tta: str = "") -> dict[str, Any]:
    """The card's ``metrics`` field: headline numbers of an ``emostream evaluate`` report.

    The report must have been made the way the exported model will run: with
    flip TTA exactly when the card asks for it, or the card would claim an
    accuracy the classifier does not deliver.
    """
    report = json.loads(Path(report_path).read_text())
    if bool(report.get("tta")) != (tta == "flip"):
        made, wanted = ("with" if report.get("tta") else "without"), ("with" if tta else "without")
        raise ValueError(f"{report_path} was evaluated {made} flip TTA but the model is exported {wanted} it (--tta)")
    metrics = headline_metrics(report, str(report_path))
    if report.get("sha256") and report["sha256"] != source_sha256:
        log.warning("%s was made for another model file (%s); its metrics may not describe this one", report_path, report.get("model"))
        metrics["note"] = "report made for a different model file than the one exported"
    return metrics


def headline_metrics(report: dict[str, Any], where: str) -> dict[str, Any]:
    """Accuracy, macro F1 and per-class F1/recall of an ``emostream evaluate`` report, and how it was made."""
    try:
        metrics: dict[str, Any] = {
            "accuracy": report["accuracy"],
            "macro_f1": report["macro_f1"],
            "samples": report["samples"],
            "per_class_f1": {name: s["f1"] for name, s in report["per_class"].items()},
            "per_class_recall": {name: s["recall"] for name, s in report["per_class"].items()},
        }
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{where}: not an `emostream evaluate` report (missing {exc})") from None
    metrics.update(
        data=report.get("data"),
        format=report.get("format"),
        tta=report.get("tta"),
        evaluated_model=report.get("model"),
        report=where,
    )
    return metrics
