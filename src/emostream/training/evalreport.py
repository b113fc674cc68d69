"""An evaluation report as the terminal, a script and a reader see it: text table, JSON, CSV and a confusion plot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np


def format_report(report: dict[str, Any]) -> str:
    """A plain-text table of the report, for the terminal."""
    classes = report["classes"]
    width = max(len(c) for c in (*classes, "macro avg"))
    lines = [
        f"{report['model_name']} ({report['format']}{', flip TTA' if report['tta'] else ''}) on {report['samples']} images",
        "",
        f"{'':<{width}}  precision  recall     f1  support",
    ]
    for name in classes:
        s = report["per_class"][name]
        lines.append(f"{name:<{width}}  {s['precision']:9.3f}  {s['recall']:6.3f}  {s['f1']:5.3f}  {s['support']:7d}")
    lines.append(
        f"{'macro avg':<{width}}  {report['macro_precision']:9.3f}  {report['macro_recall']:6.3f}  "
        f"{report['macro_f1']:5.3f}  {report['samples']:7d}"
    )
    lines += ["", "confusion matrix (rows: true, columns: predicted)"]
    short = [c[:5] for c in classes]
    lines.append(f"{'':<{width}}  " + " ".join(f"{c:>5}" for c in short))
    for name, row in zip(classes, report["confusion_matrix"], strict=True):
        lines.append(f"{name:<{width}}  " + " ".join(f"{v:5d}" for v in row))
    lines += ["", f"accuracy {report['accuracy']:.4f}   macro F1 {report['macro_f1']:.4f}"]
    return "\n".join(lines)


def plot_confusion(report: dict[str, Any], path: Path) -> Path:
    """Save the confusion matrix as a PNG: colour by row share (recall), text by count.

    Colouring by row share keeps rare classes (disgust has ~1.5 % of FER2013)
    readable next to common ones; the counts stay printed in each cell.
    Uses the object-oriented Figure API, so no pyplot global state or GUI backend.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    cm = np.asarray(report["confusion_matrix"], dtype=np.float64)
    share = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    classes = report["classes"]
    fig = Figure(figsize=(7, 6), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, label="share of the true class")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{report['model_name']}: accuracy {report['accuracy']:.3f}, macro F1 {report['macro_f1']:.3f}", fontsize=10)
    for t in range(len(classes)):
        for p in range(len(classes)):
            ax.text(p, t, f"{int(cm[t, p])}", ha="center", va="center", color="white" if share[t, p] > 0.5 else "black", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    return path


def write_outputs(report: dict[str, Any], out: Path) -> list[Path]:
    """``report.json``, ``confusion.csv`` and ``confusion.png`` in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "report.json"
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    csv_path = out / "confusion.csv"
    rows = [",".join(["true\\predicted", *report["classes"]])]
    rows += [",".join([name, *map(str, row)]) for name, row in zip(report["classes"], report["confusion_matrix"], strict=True)]
    csv_path.write_text("\n".join(rows) + "\n")
    return [json_path, csv_path, plot_confusion(report, out / "confusion.png")]
