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

With ``--tau`` (repeatable) nothing is tuned: the model card's own ``prior``
is applied by the classifier's runtime itself at tau 0 and at each given tau
(``classifier.prior_tau``'s path), and FER+ Valid is scored for each, e.g.
the served ``fast`` at 0 and its card's 0.2:

    PYTHONPATH=src .venv/bin/python scripts/prior_adjustment.py --model fast --data runs/data/fer2013-ferplus.npz --tau 0.2

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
from emostream.training.holdout import HOLDOUT_SEED, split_table
from emostream.training.metrics import classification_report
from emostream.training.table import labelled, labelled_rows, load_table

TAUS = np.round(np.arange(0.0, 2.001, 0.05), 2)


def served_probs(model: str, images: np.ndarray, tau: float = 0.0) -> np.ndarray:
    """Probabilities as served on this CPU, the card's prior applied by the runtime at ``tau`` (0: none)."""
    from emostream.classifier.runtime import load_runtime
    from emostream.infra.modelcard import with_prior_tau
    from emostream.training.evaluate import card_for, fit_to_card, predict

    card = with_prior_tau(card_for(model), tau)
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


def served_taus(models: list[str], data: Path, taus: list[float], out: Path | None) -> int:
    """FER+ Valid scored as served, with the card's own prior applied by the runtime at tau 0 and at each of ``taus``."""
    from emostream.training.evaluate import card_for

    valid = labelled(load_table(data), "PublicTest", "ferplus-majority")
    results: dict[str, Any] = {}
    for model in models:
        card = card_for(model)
        print(f"{model}: {card.label}, card prior_tau {card.prior_tau:g}, prior {card.prior}")
        results[model] = {"card_prior_tau": card.prior_tau, "prior": card.prior, "valid_faces": len(valid), "valid": {}}
        for tau in [0.0, *taus]:
            s = scores(valid.hard_labels, np.argmax(served_probs(model, valid.images, tau), axis=1))
            results[model]["valid"][f"tau={tau:g}"] = s
            print(f"  FER+ Valid tau={tau:<5g} accuracy {s['accuracy']:.4f}  macro F1 {s['macro_f1']:.4f}  recall {s['recall']}")
    if out:
        out.write_text(json.dumps(results, indent=2))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", required=True, help="packaged name or model folder (repeat)")
    parser.add_argument("--data", type=Path, required=True, help="packed .npz with FER+ votes (emostream pack-data)")
    parser.add_argument("--holdout", type=float, default=0.1)
    parser.add_argument("--holdout-seed", type=int, default=HOLDOUT_SEED)
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument("--tau", type=float, action="append", help="score only these taus (and 0) with the card's prior, as served (repeat)")
    args = parser.parse_args()
    if args.tau:
        return served_taus(args.model, args.data, args.tau, args.out)

    table = load_table(args.data)
    assert table.votes is not None, "FER+ votes are needed"
    keep, held = split_table(table, "Training", args.holdout, args.holdout_seed)
    prior = labelled_rows(table, keep, "ferplus-soft").labels.mean(axis=0)
    holdout = labelled_rows(table, held, "ferplus-majority")
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
