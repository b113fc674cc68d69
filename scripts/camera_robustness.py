"""How a served model holds up when the face comes through a camera: FER+ Valid under blur, compression, dark and low resolution.

    PYTHONPATH=src .venv/bin/python scripts/camera_robustness.py --model fast --data runs/data/fer2013-ferplus.npz

FER+ Valid (PublicTest with a clear FER+ majority) is clean: 48x48 faces cut
from web photos. A camera's face has been blurred by its optics or motion,
compressed by its encoder, under-exposed at night, or is a few dozen pixels
scaled up to the model's input. Each condition below is applied to every
Valid face with OpenCV (not with the training package's own augmentation, so
a model trained with that augmentation is not scored on its own code), at a
mild and a harsh level, and the model is run as the classifier serves it on
this CPU (card, TFLite variant, flip TTA, card priors). The table says the
agreement with the FER+ majority per condition and the mean over the
degraded ones. ``--faces holdout`` scores the Training holdout of
``emostream train --holdout 0.1`` instead, so that candidates are chosen there
and FER+ Valid stays a figure that chose nothing.

The conditions are ``emostream.training.robustness.CONDITIONS``, those of
``emostream evaluate --camera all``, which scores one model (any format) the
same way; this script compares several as the classifier serves them on this
CPU, and scores the Training holdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from prior_adjustment import served_probs

from emostream.infra.emotions import EMOTIONS
from emostream.training.data import Dataset
from emostream.training.evaluate import card_for
from emostream.training.holdout import split_table
from emostream.training.metrics import classification_report
from emostream.training.robustness import CONDITIONS, degrade_all
from emostream.training.table import FerTable, labelled, labelled_rows, load_table


def faces(table: FerTable, which: str) -> Dataset:
    """FER+ Valid, or the Training holdout every ``emostream train --holdout 0.1`` run holds out (same seed), majority-labelled."""
    if which == "valid":
        return labelled(table, "PublicTest", "ferplus-majority")
    assert table.votes is not None, "FER+ votes are needed"
    return labelled_rows(table, split_table(table, "Training", 0.1)[1], "ferplus-majority")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True, help="model name or folder (repeatable)")
    parser.add_argument("--data", type=Path, required=True, help="packed .npz with FER+ votes (emostream pack-data)")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    parser.add_argument(
        "--faces",
        choices=("valid", "holdout"),
        default="valid",
        help="valid: FER+ Valid, the reported figure; holdout: the Training holdout of `emostream train --holdout 0.1`, to choose on",
    )
    args = parser.parse_args(argv)
    valid = faces(load_table(args.data), args.faces)
    truth = valid.hard_labels
    results: dict[str, dict[str, float]] = {}
    for model in args.model:
        tau = card_for(model).prior_tau  # served as the classifier serves it: the card's priors at the card's tau
        row: dict[str, float] = {}
        for name, how in {"clean": None, **CONDITIONS}.items():
            images = valid.images if how is None else degrade_all(valid.images, how)  # the conditions of `emostream evaluate --camera`
            predicted = np.argmax(served_probs(model, images, tau), axis=1)
            report = classification_report(truth, predicted, EMOTIONS)
            row[name] = round(100 * report["accuracy"], 2)
            if name == "clean":
                row["clean macro F1"] = round(report["macro_f1"], 3)
        row["mean degraded"] = round(float(np.mean([row[n] for n in CONDITIONS])), 2)
        results[model] = row
    names = ["clean", "clean macro F1", *CONDITIONS, "mean degraded"]
    print("| condition | " + " | ".join(f"`{m}`" for m in args.model) + " |")
    print("|---|" + "---|" * len(args.model))
    for n in names:
        print(f"| {n} | " + " | ".join(str(results[m][n]) for m in args.model) + " |")
    if args.out:
        args.out.write_text(json.dumps({"faces": len(truth), "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
