"""Calibrated priors (logit adjustment) for a served model, tuned on the Training holdout, reported once on FER+ Valid.

    PYTHONPATH=src .venv/bin/python scripts/prior_adjustment.py --model fast --data runs/data/fer2013-ferplus.npz

A model trained on FER+ votes learns their class shares: neutral and happy
take most of the mass, disgust and fear little, and the model leans towards
the frequent classes (issue 28: macro F1 0.76, a dashboard's shares lean to
neutral). Logit adjustment (Menon et al. 2021) divides each class
probability by its training prior to the power tau, which is adding
``-tau * log prior`` to the logits: tau = 0 is the model as trained, tau = 1
the balanced-error Bayes rule. Tau is chosen on the ``--holdout`` share of
Training (the split ``emostream train --holdout`` uses, same seed) to
maximise macro F1 there; FER+ Valid is scored only for tau = 0 and the chosen
tau, after the choice.

The model runs as the classifier serves it on this CPU (card, TFLite
variant, flip TTA). Caveat printed with the result: a model that was trained
on the holdout faces (every model shipped before ``--holdout`` existed) is
more confident there than on new faces, so the tau chosen for it is biased
low; a model from ``emostream train --holdout`` gives an unbiased choice.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from emostream.infra.emotions import EMOTIONS
from emostream.training.holdout import HOLDOUT_SEED, split_rows, strata_of
from emostream.training.metrics import classification_report
from emostream.training.table import labelled, labelled_rows, load_table

TAUS = np.round(np.arange(0.0, 2.001, 0.05), 2)


def served_probs(model: str, images: np.ndarray) -> np.ndarray:
    from emostream.classifier.runtime import load_runtime
    from emostream.training.evaluate import card_for, fit_to_card, predict

    card = card_for(model)
    runtime = load_runtime(card, "auto", batch_max=64, threads=2)
    try:
        return predict(runtime, fit_to_card(images, runtime.card), tta=card.tta == "flip")
    finally:
        runtime.close()


def adjust(probs: np.ndarray, prior: np.ndarray, tau: float) -> np.ndarray:
    """Labels after dividing each class probability by ``prior ** tau``."""
    return np.asarray(np.argmax(np.log(np.clip(probs, 1e-12, 1.0)) - tau * np.log(prior), axis=1))


def scores(truth: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    report = classification_report(truth, predicted, EMOTIONS)
    recall = {name: round(s["recall"], 3) for name, s in report["per_class"].items()}
    return {"accuracy": round(report["accuracy"], 4), "macro_f1": round(report["macro_f1"], 4), "recall": recall}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", required=True, help="packaged name or model folder (repeat)")
    parser.add_argument("--data", type=Path, required=True, help="packed .npz with FER+ votes (emostream pack-data)")
    parser.add_argument("--holdout", type=float, default=0.1)
    parser.add_argument("--holdout-seed", type=int, default=HOLDOUT_SEED)
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args()

    table = load_table(args.data)
    rows = table.rows("Training")
    assert table.votes is not None, "FER+ votes are needed"
    keep, held = split_rows(strata_of(table.codes[rows], table.votes[rows]), args.holdout, args.holdout_seed)
    prior = labelled_rows(table, rows[keep], "ferplus-soft").labels.mean(axis=0)
    holdout = labelled_rows(table, rows[held], "ferplus-majority")
    valid = labelled(table, "PublicTest", "ferplus-majority")
    print("training prior:", {n: round(float(p), 4) for n, p in zip(EMOTIONS, prior, strict=True)})
    results = {}
    for model in args.model:
        on_holdout = served_probs(model, holdout.images)
        curve = [(float(t), scores(holdout.hard_labels, adjust(on_holdout, prior, t))) for t in TAUS]
        tau = max(curve, key=lambda c: float(c[1]["macro_f1"]))[0]
        on_valid = served_probs(model, valid.images)
        result: dict[str, Any] = {
            "holdout_faces": len(holdout),
            "valid_faces": len(valid),
            "chosen_tau": tau,
            "holdout": {f"tau={t:g}": dict(curve)[t] for t in (0.0, tau)},
            "valid_once": {f"tau={t:g}": scores(valid.hard_labels, adjust(on_valid, prior, t)) for t in (0.0, tau)},
            "holdout_curve": {f"{t:.2f}": [c["accuracy"], c["macro_f1"]] for t, c in curve},
        }
        results[model] = result
        print(f"{model}: tau chosen on the holdout = {tau}")
        for split in ("holdout", "valid_once"):
            for key, s in result[split].items():
                print(f"  {split:<10} {key:<9} accuracy {s['accuracy']:.4f}  macro F1 {s['macro_f1']:.4f}  recall {s['recall']}")
    if args.out:
        args.out.write_text(json.dumps({"prior": prior.tolist(), "models": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
