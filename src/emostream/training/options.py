"""The options of ``emostream train``: one dataclass, its command-line flags, and the mapping between them.

Kept apart from the training loop so that ``run.json`` (what export copies
into the model card) and the flags cannot drift: both come from
:class:`TrainOptions`.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from emostream.training.augment import AugmentSpec
from emostream.training.holdout import HOLDOUT_SEED
from emostream.training.models import ARCHITECTURES, ModelSpec
from emostream.training.table import LABEL_SOURCES

CLASS_WEIGHTS = ("none", "balanced", "sqrt")
OPTIMIZERS = ("adam", "adamw", "sgd")
LR_SCHEDULES = ("cosine", "plateau", "constant")


@dataclass
class TrainOptions:
    data: Path
    out: Path
    architecture: str = "compact"
    labels: str = "fer2013"
    ferplus: Path | None = None
    train_usage: str = "Training"
    val_usage: str = "PublicTest"
    holdout: float = 0.0
    holdout_seed: int = HOLDOUT_SEED
    limit: int = 0
    epochs: int = 60
    batch_size: int = 64
    steps_per_epoch: int = 0
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    lr_schedule: str = "cosine"
    warmup_epochs: int = 2
    patience: int = 15
    label_smoothing: float = 0.1
    class_weights: str = "none"
    init_from: str | None = None
    teacher: tuple[str, ...] = ()
    teacher_weight: float = 0.5
    teacher_temperature: float = 1.0
    seed: int = 1337
    model: ModelSpec = field(default_factory=ModelSpec)
    augment: AugmentSpec = field(default_factory=AugmentSpec)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["data"], out["out"] = str(self.data), str(self.out)
        out["ferplus"] = str(self.ferplus) if self.ferplus else None
        out["teacher"] = list(self.teacher)
        return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = TrainOptions(data=Path("."), out=Path("."))
    m, a = d.model, d.augment
    p = parser.add_argument
    p("--data", type=Path, required=True, help="fer2013.csv[.gz], a packed .npz (emostream pack-data), or a folder with train/<class>/, test/<class>/")
    p("--out", type=Path, required=True, help="run folder for checkpoints, history and state; rerun to resume")
    p("--architecture", choices=ARCHITECTURES, default=d.architecture, help="network to build (default %(default)s)")
    p("--labels", choices=LABEL_SOURCES, default=d.labels, help="training labels; ferplus-* also selects on FER+ majority agreement (default %(default)s)")
    p("--ferplus", type=Path, help="fer2013new.csv with FER+ votes, for --labels ferplus-* with a CSV (a .npz carries them)")
    p("--train-usage", default=d.train_usage, help="Usage value of the training rows (default %(default)s)")
    _selection_arguments(parser, d)
    p("--limit", type=int, default=0, help="use only this many training images (and a quarter as many validation images); 0 = all")
    p("--epochs", type=int, default=d.epochs, help="maximum epochs (default %(default)s)")
    p("--batch-size", type=int, default=d.batch_size, help="batch size (default %(default)s)")
    p("--steps-per-epoch", type=int, default=d.steps_per_epoch, help="batches per epoch, each a fresh random draw; 0 = the whole set (default %(default)s)")
    p("--optimizer", choices=OPTIMIZERS, default=d.optimizer, help="Adam, AdamW (decoupled weight decay) or SGD, Nesterov momentum 0.9 (default %(default)s)")
    p("--learning-rate", type=float, default=d.learning_rate, help="peak learning rate (default %(default)s)")
    p("--weight-decay", type=float, default=d.weight_decay, help="decoupled weight decay for adamw and sgd (default %(default)s)")
    p("--lr-schedule", choices=LR_SCHEDULES, default=d.lr_schedule, help="cosine decay with warm-up, ReduceLROnPlateau, or constant (default %(default)s)")
    p("--warmup-epochs", type=int, default=d.warmup_epochs, help="linear warm-up epochs for the cosine schedule (default %(default)s)")
    p("--patience", type=int, default=d.patience, help="early stopping: epochs without a better val accuracy; 0 = never (default %(default)s)")
    p("--label-smoothing", type=float, default=d.label_smoothing, help="label smoothing of the cross-entropy (default %(default)s)")
    p("--class-weights", choices=CLASS_WEIGHTS, default=d.class_weights, help="weigh classes against imbalance (default %(default)s)")
    p("--init-from", help="start from the weights of this Keras file (same architecture) instead of random ones; the schedule starts afresh")
    p("--teacher", action="append", default=[], help="distillation teacher: model folder, packaged name, Keras file (repeat to average) or soft-target .npz")
    p("--teacher-weight", type=float, default=d.teacher_weight, help="share of the teacher in the targets; the rest is the labels (default %(default)s)")
    p("--teacher-temperature", type=float, default=d.teacher_temperature, help="soften the teacher: p**(1/T), renormalised (default %(default)s)")
    p("--stop-after-epochs", type=int, default=0, help="end this invocation after N epochs; rerun to resume (default 0: run to the end)")
    p("--threads", type=int, default=0, help="TensorFlow CPU threads for this invocation; 0 = all cores (default %(default)s)")
    p("--seed", type=int, default=d.seed, help="random seed for shuffling, augmentation and initialisation (default %(default)s)")
    p("--input-size", type=int, default=m.input_size, help="square input size in pixels (default %(default)s)")
    p("--l2", type=float, default=m.l2, help="L2 weight regularisation (default %(default)s)")
    p("--dropout", type=float, default=m.dropout, help="dropout rate in the dense head (default %(default)s)")
    p("--dense", type=int, nargs="*", default=list(m.dense), help="units of each dense head layer (default %(default)s)")
    p("--unfreeze", type=int, default=m.unfreeze, help="transfer learning: train the top N backbone layers; 0 keeps it frozen")
    p("--weights", default=m.weights, help="transfer learning: 'imagenet', a local weights file, or 'none'")
    p("--no-flip", action="store_true", help="disable horizontal flips")
    p("--rotation", type=float, default=a.rotation_deg, help="max random rotation in degrees (default %(default)s)")
    p("--shift", type=float, default=a.shift, help="max random shift as a fraction of the size (default %(default)s)")
    p("--zoom", type=float, default=a.zoom, help="max random zoom as a fraction (default %(default)s)")
    p("--contrast", type=float, default=a.contrast, help="max random contrast change (default %(default)s)")
    p("--erasing", type=float, default=a.erasing, help="random erasing: probability per face (default %(default)s)")
    p("--camera", type=float, default=a.camera, help="a simulated camera (blur, low resolution, JPEG blocks, exposure, noise): "
      "probability per face (default %(default)s)")
    p("--mixup", type=float, default=a.mixup, help="mixup: Beta(alpha, alpha); 0 = off (default %(default)s)")
    p("--cutmix", type=float, default=a.cutmix, help="CutMix: Beta(alpha, alpha); 0 = off; with --mixup each batch picks one (default %(default)s)")


def _selection_arguments(parser: argparse.ArgumentParser, d: TrainOptions) -> None:
    """The flags that say which faces choose the best epoch and which are only reported."""
    p = parser.add_argument
    p(
        "--val-usage",
        default=d.val_usage,
        help="Usage value of the validation rows: they select the best epoch, or with --holdout are only scored once at the end (default %(default)s)",
    )
    p(
        "--holdout",
        type=float,
        default=d.holdout,
        help="select the best epoch on this seeded, stratified share of the training rows (e.g. 0.1), never on --val-usage, "
        "which is then scored once on the selected model; 0 = select on --val-usage (default %(default)s)",
    )
    p(
        "--holdout-seed",
        type=int,
        default=d.holdout_seed,
        help="seed of the --holdout split, apart from --seed so that all runs hold out the same faces (default %(default)s)",
    )


def options_from_args(args: argparse.Namespace) -> TrainOptions:
    weights = None if args.weights in (None, "none") else args.weights
    return TrainOptions(
        data=args.data,
        out=args.out,
        architecture=args.architecture,
        labels=args.labels,
        ferplus=args.ferplus,
        train_usage=args.train_usage,
        val_usage=args.val_usage,
        holdout=args.holdout,
        holdout_seed=args.holdout_seed,
        limit=args.limit,
        epochs=args.epochs,
        batch_size=args.batch_size,
        steps_per_epoch=args.steps_per_epoch,
        optimizer=args.optimizer,
        learning_rate=args.learning_rate,
        weight_decay=args.weight_decay,
        lr_schedule=args.lr_schedule,
        warmup_epochs=args.warmup_epochs,
        patience=args.patience,
        label_smoothing=args.label_smoothing,
        class_weights=args.class_weights,
        init_from=args.init_from,
        teacher=tuple(args.teacher),
        teacher_weight=args.teacher_weight,
        teacher_temperature=args.teacher_temperature,
        seed=args.seed,
        model=ModelSpec(
            input_size=args.input_size,
            l2=args.l2,
            dropout=args.dropout,
            dense=tuple(args.dense),
            unfreeze=args.unfreeze,
            weights=weights,
        ),
        augment=AugmentSpec(
            flip=not args.no_flip,
            rotation_deg=args.rotation,
            shift=args.shift,
            zoom=args.zoom,
            contrast=args.contrast,
            erasing=args.erasing,
            camera=args.camera,
            mixup=args.mixup,
            cutmix=args.cutmix,
        ),
    )
