"""``emostream evaluate``: score a model on labelled faces and write a report.

The model is either a bare Keras file (``runs/x/best.keras``, as ``emostream
train`` writes it) or a model folder with a ``model.json`` card (as ``emostream
export`` writes it, or the name of a packaged model). Both run through the
classifier's own runtime (``emostream.classifier.runtime``), so the numbers
describe what the service will do: same preprocessing, same input size, same
format (``--format keras|tflite``). FER2013 crops (48x48) are resized to the
model's input size with bilinear interpolation.

The report holds accuracy, per-class precision/recall/F1, macro F1 and the
confusion matrix (rows: true class, columns: predicted class). With ``--out``
it is written as ``report.json``, ``confusion.csv`` and ``confusion.png``;
``emostream export --report`` copies its headline numbers into the model card.

``--camera CONDITION`` scores the faces as a camera gives them
(:mod:`robustness`); ``--camera all`` scores them clean and through every
condition with the model loaded once, one line each and their mean.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from emostream.training.data import FER_USAGES, Dataset
from emostream.training.evalreport import format_report, write_outputs
from emostream.training.evaluate import EVAL_LABELS, evaluate, evaluate_views, load_eval_data
from emostream.training.robustness import CONDITIONS, through_camera


def camera_table(accuracy: dict[str, float]) -> str:
    """Markdown rows: agreement (%) clean and per condition, and the mean over the conditions, from ``{condition: accuracy}``."""
    lines = ["| faces | agreement |", "|---|---|"]
    lines += [f"| {name} | {100 * value:.2f} % |" for name, value in accuracy.items()]
    degraded = [v for n, v in accuracy.items() if n != "clean"]
    if degraded:
        lines.append(f"| **mean of the {len(degraded)} camera conditions** | **{100 * sum(degraded) / len(degraded):.2f} %** |")
    return "\n".join(lines)


def evaluate_through_camera(
    model_path: str | Path,
    dataset: Dataset,
    tta: bool = False,
    batch_size: int = 64,
    fmt: str = "keras",
    scale: float | None = None,
    offset: float | None = None,
) -> dict[str, dict[str, Any]]:
    """``evaluate``'s report on ``dataset`` clean ("clean") and through each condition, the model loaded once."""
    views = itertools.chain([("clean", dataset)], ((name, through_camera(dataset, name)) for name in CONDITIONS))  # one at a time
    return evaluate_views(model_path, views, len(dataset), tta, batch_size, fmt, scale, offset)


def print_through_camera(
    model_path: str | Path,
    dataset: Dataset,
    out: Path | None,
    tta: bool = False,
    batch_size: int = 64,
    fmt: str = "keras",
    scale: float | None = None,
    offset: float | None = None,
) -> int:
    """``emostream evaluate --camera all``: one agreement per view and their mean; ``out``: ``camera.json`` with the reports."""
    reports = evaluate_through_camera(model_path, dataset, tta, batch_size, fmt, scale, offset)
    first = reports["clean"]
    print(f"{first['model_name']} ({first['format']}{', flip TTA' if first['tta'] else ''}) on {first['samples']} faces, clean and through a camera")
    print(camera_table({name: float(r["accuracy"]) for name, r in reports.items()}))
    if out:
        out.mkdir(parents=True, exist_ok=True)
        path = out / "camera.json"
        path.write_text(json.dumps(reports, indent=2))
        print(f"wrote {path}")
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    p = parser.add_argument
    p(
        "--model",
        required=True,
        help="a Keras file (runs/NAME/best.keras), a model folder with model.json, or a packaged model name (e.g. mini-xception)",
    )
    p(
        "--format",
        choices=("keras", "tflite"),
        default="keras",
        help="which file of a model folder to run (default %(default)s); tflite needs a folder",
    )
    p(
        "--data",
        type=Path,
        required=True,
        help="fer2013.csv (or .csv.gz), or an image folder: train/<class>/ and test/<class>/, or <class>/ directly",
    )
    p(
        "--usage",
        choices=FER_USAGES,
        default="PublicTest",
        help="FER2013 rows to score (default %(default)s); for an image folder, Training picks train/, anything else test/",
    )
    p(
        "--labels",
        choices=EVAL_LABELS,
        default="fer2013",
        help="ground truth: FER2013 labels, or the FER+ majority (faces whose single largest vote is one of ours; docs/MODEL.md) (default %(default)s)",
    )
    p("--ferplus", type=Path, help="fer2013new.csv with FER+ votes, for --labels ferplus-majority with a CSV (a packed .npz carries them)")
    p("--limit", type=int, default=0, help="score a random subset of this many images (seeded by --seed); 0 = all")
    p("--seed", type=int, default=1337, help="random seed for --limit (default %(default)s)")
    p("--tta", action="store_true", help="test-time augmentation: average the probabilities of each face and its mirror image")
    p("--batch-size", type=int, default=64, help="faces per forward pass (default %(default)s)")
    p("--scale", type=float, help="bare Keras files only: preprocessing scale, input = pixels*scale+offset (default 1/255, as train uses)")
    p("--offset", type=float, help="bare Keras files only: preprocessing offset (default 0)")
    p(
        "--camera",
        metavar="CONDITION",
        help="score the faces as a camera gives them: one condition (blur-1.0, blur-1.8, jpeg-30, jpeg-12, dark-0.45, dark-0.25, "
        "lowres-24, lowres-16, noise-6, noise-12, bright-1.6, bright-2.2; the report is of the degraded faces), or all: clean "
        "and every condition, one line each, with their mean (docs/MODEL.md, 'Faces as cameras give them')",
    )
    p("--out", type=Path, help="folder for report.json, confusion.csv and confusion.png; without it only the table is printed")


def main(args: argparse.Namespace) -> int:
    dataset = load_eval_data(args.data, args.usage, args.labels, args.ferplus)
    if args.limit and args.limit < len(dataset):
        rng = np.random.default_rng(args.seed)
        dataset = dataset.subset(np.sort(rng.permutation(len(dataset))[: args.limit]))
    if args.camera == "all":
        return print_through_camera(args.model, dataset, args.out, args.tta, args.batch_size, args.format, args.scale, args.offset)
    if args.camera:
        dataset = through_camera(dataset, args.camera)
    report = evaluate(args.model, dataset, tta=args.tta, batch_size=args.batch_size, fmt=args.format, scale=args.scale, offset=args.offset)
    report["data"] = {
        "path": str(args.data),
        "usage": args.usage,
        "labels": args.labels,
        "ferplus": str(args.ferplus) if args.ferplus else None,
        "limit": args.limit,
        "camera": args.camera,
    }
    print(format_report(report))
    if args.out:
        written = write_outputs(report, args.out)
        print("wrote " + ", ".join(str(p) for p in written))
    return 0


if __name__ == "__main__":
    import sys

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="emostream evaluate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    sys.exit(main(parser.parse_args()))
