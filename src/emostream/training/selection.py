"""What a training run learns from, what it selects its best epoch on, and what it reports.

Without ``--holdout`` a run selects on the ``--val-usage`` rows (FER+ Valid,
that is PublicTest), the faces its figure is then quoted on: the best-epoch
figure is optimistic. With ``--holdout F`` it selects on a seeded, stratified
share F of the training rows (:mod:`emostream.training.holdout`) and scores
the ``--val-usage`` rows once, when the run has finished, on the model
selection chose: :func:`report_once` writes that figure into ``state.json``
(``reported``), from where the model card copies it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from emostream.infra.emotions import EMOTIONS
from emostream.training.data import Dataset, load_image_folder
from emostream.training.distill import mix_targets, teacher_targets
from emostream.training.holdout import split_rows, split_table
from emostream.training.metrics import classification_report
from emostream.training.options import TrainOptions
from emostream.training.table import labelled, labelled_rows, load_table

log = logging.getLogger(__name__)


def _val_labels(opts: TrainOptions) -> str:
    return "fer2013" if opts.labels == "fer2013" else "ferplus-majority"


def load_splits(opts: TrainOptions) -> tuple[Dataset, Dataset]:
    """Training data and selection data as the options describe them.

    With FER+ labels the model is selected on FER+ agreement (the majority
    rule of ``ferplus.majority_mask``), with FER2013 labels on FER2013
    accuracy: on the ``--holdout`` share of the training rows when one is
    asked for, else on the validation rows. PrivateTest is never used.
    """
    _refuse_private(opts)
    data = Path(opts.data)
    if data.is_dir():
        train = load_image_folder(data / "train", opts.model.input_size)
        if opts.holdout:
            keep, held = split_rows(train.hard_labels, opts.holdout, opts.holdout_seed)
            train, val = train.subset(keep), train.subset(held)
        else:
            val = load_image_folder(data / "test", opts.model.input_size)
    else:
        table = load_table(data, opts.ferplus)
        if opts.holdout:
            keep, held = split_table(table, opts.train_usage, opts.holdout, opts.holdout_seed)
            train = labelled_rows(table, keep, opts.labels)
            val = labelled_rows(table, held, _val_labels(opts))
        else:
            train = labelled(table, opts.train_usage, opts.labels)
            val = labelled(table, opts.val_usage, _val_labels(opts))
    if opts.teacher:
        soft = teacher_targets(opts.teacher, train.images, Path(opts.out))
        train = Dataset(train.images, mix_targets(train.labels, soft, opts.teacher_weight, opts.teacher_temperature))
    if opts.limit:
        rng = np.random.default_rng(opts.seed)
        train = train.subset(rng.permutation(len(train))[: opts.limit])
        val = val.subset(rng.permutation(len(val))[: max(opts.limit // 4, 1)])
    # FER2013 rows are 48x48 whatever --input-size says; the model wants its own size.
    return train.resized(opts.model.input_size), val.resized(opts.model.input_size)


def _refuse_private(opts: TrainOptions) -> None:
    if "PrivateTest" in (opts.train_usage, opts.val_usage):
        raise ValueError("PrivateTest is held out: train on Training and select on PublicTest (FER+ Valid) or a --holdout")


def load_reported(opts: TrainOptions) -> Dataset:
    """The ``--val-usage`` rows (FER+ Valid), scored once at the end of a run that selected on a holdout."""
    _refuse_private(opts)
    data = Path(opts.data)
    if data.is_dir():
        reported = load_image_folder(data / "test", opts.model.input_size)
    else:
        reported = labelled(load_table(data, opts.ferplus), opts.val_usage, _val_labels(opts))
    if opts.limit:
        reported = reported.subset(np.random.default_rng(opts.seed).permutation(len(reported))[: max(opts.limit // 4, 1)])
    return reported.resized(opts.model.input_size)


def report_once(opts: TrainOptions, best: Path) -> dict[str, Any]:
    """Score ``best`` on the ``--val-usage`` rows: one pass and with flip TTA, Keras, float32.

    Called once per run, after selection has finished; the figures are for
    the record (state.json, the card) and choose nothing.
    """
    import keras

    from emostream.training.batches import normalise

    faces = load_reported(opts)
    model = keras.models.load_model(best, compile=False)
    x = np.asarray(normalise(faces.images.astype(np.float32)), dtype=np.float32)
    one = model.predict(x, batch_size=256, verbose=0)
    flip = (one + model.predict(x[:, :, ::-1], batch_size=256, verbose=0)) / 2.0
    truth = faces.hard_labels
    served = classification_report(truth, np.argmax(flip, axis=1), EMOTIONS)
    report = {
        "usage": opts.val_usage,
        "labels": _val_labels(opts),
        "faces": len(faces),
        "accuracy_one_pass": float(np.mean(np.argmax(one, axis=1) == truth)),
        "accuracy_flip": served["accuracy"],
        "macro_f1_flip": served["macro_f1"],
        "per_class_recall_flip": {name: s["recall"] for name, s in served["per_class"].items()},
    }
    log.info(
        "reported once on %s (%d faces, not used for selection): %.4f one pass, %.4f with flip TTA, macro F1 %.3f",
        opts.val_usage,
        len(faces),
        report["accuracy_one_pass"],
        report["accuracy_flip"],
        report["macro_f1_flip"],
    )
    return report
