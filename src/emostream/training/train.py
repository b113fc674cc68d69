"""``emostream train``: fit a model, checkpointing every epoch so a run can resume.

A run lives in one folder (``--out``): ``last.keras`` (model and optimizer after
the latest epoch), ``best.keras`` (best validation accuracy so far),
``state.json`` (epoch, best score, epochs without improvement), ``history.csv``
and ``run.json`` (the options). Starting the same command again resumes from
``last.keras``; early stopping and the best score survive the restart because
they live in ``state.json``, not in callback memory.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emostream.training.augment import AugmentSpec
from emostream.training.data import (
    Dataset,
    load_fer2013,
    load_fer2013_ferplus,
    load_image_folder,
)
from emostream.training.models import ARCHITECTURES, ModelSpec

log = logging.getLogger(__name__)

LABEL_SOURCES = ("fer2013", "ferplus-majority", "ferplus-soft")
CLASS_WEIGHTS = ("none", "balanced", "sqrt")


@dataclass
class TrainOptions:
    data: Path
    out: Path
    architecture: str = "compact"
    labels: str = "fer2013"
    ferplus: Path | None = None
    train_usage: str = "Training"
    val_usage: str = "PublicTest"
    limit: int = 0
    epochs: int = 60
    batch_size: int = 64
    learning_rate: float = 1e-3
    lr_schedule: str = "cosine"
    warmup_epochs: int = 2
    patience: int = 15
    label_smoothing: float = 0.1
    class_weights: str = "none"
    seed: int = 1337
    model: ModelSpec = field(default_factory=ModelSpec)
    augment: AugmentSpec = field(default_factory=AugmentSpec)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["data"], out["out"] = str(self.data), str(self.out)
        out["ferplus"] = str(self.ferplus) if self.ferplus else None
        return out


def load_splits(opts: TrainOptions) -> tuple[Dataset, Dataset]:
    """Training and validation data as the options describe them."""
    data = Path(opts.data)
    if data.is_dir():
        train, val = load_image_folder(data / "train", opts.model.input_size), load_image_folder(
            data / "test", opts.model.input_size
        )
    elif opts.labels == "fer2013":
        train = load_fer2013(data, (opts.train_usage,))
        val = load_fer2013(data, (opts.val_usage,))
    else:
        if opts.ferplus is None:
            raise SystemExit("--labels ferplus-* needs --ferplus PATH (fer2013new.csv)")
        mode = opts.labels.removeprefix("ferplus-")
        train = load_fer2013_ferplus(data, opts.ferplus, (opts.train_usage,), mode)
        # Selection is always on the original FER2013 labels, the published benchmark.
        val = load_fer2013(data, (opts.val_usage,))
    if opts.limit:
        rng = np.random.default_rng(opts.seed)
        train = train.subset(rng.permutation(len(train))[: opts.limit])
        val = val.subset(rng.permutation(len(val))[: max(opts.limit // 4, 1)])
    # FER2013 rows are 48x48 whatever --input-size says; the model wants its own size.
    return train.resized(opts.model.input_size), val.resized(opts.model.input_size)


def class_weight_vector(labels: np.ndarray, mode: str) -> np.ndarray:
    """Per-class weights for imbalanced data, normalised so their mean over samples is 1."""
    counts = np.maximum(labels.sum(axis=0), 1.0)
    if mode == "none":
        weights = np.ones_like(counts)
    elif mode == "balanced":
        weights = counts.sum() / (len(counts) * counts)
    elif mode == "sqrt":
        weights = np.sqrt(counts.sum() / (len(counts) * counts))
    else:
        raise ValueError(f"unknown class weight mode {mode!r}; choose from {CLASS_WEIGHTS}")
    return np.asarray(weights / (labels @ weights).mean(), dtype=np.float32)


def normalise(images: Any) -> Any:
    """uint8 pixels to the model's input range; recorded in the model card as scale 1/255."""
    return images / 255.0


def _pipeline(ds: Dataset, opts: TrainOptions, training: bool) -> Any:
    import tensorflow as tf

    from emostream.training.augment import build_augmenter

    images = ds.images.astype(np.float32)
    labels = ds.labels
    if training:
        weights = labels @ class_weight_vector(labels, opts.class_weights)
        pipe = tf.data.Dataset.from_tensor_slices((images, labels, weights))
        pipe = pipe.shuffle(len(ds), seed=opts.seed, reshuffle_each_iteration=True)
    else:
        pipe = tf.data.Dataset.from_tensor_slices((images, labels))
    pipe = pipe.batch(opts.batch_size)
    augmenter = build_augmenter(opts.augment, opts.seed) if training and opts.augment.enabled else None

    def prepare(x: Any, *rest: Any) -> Any:
        x = normalise(x)
        if augmenter is not None:
            x = augmenter(x, training=True)
        return (x, *rest)

    return pipe.map(prepare, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


class RunState:
    """The resumable part of a run, persisted in ``state.json`` after every epoch."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "state.json"
        saved = json.loads(self.path.read_text()) if self.path.exists() else {}
        self.epoch: int = saved.get("epoch", 0)
        self.best: float = saved.get("best", -math.inf)
        self.best_epoch: int = saved.get("best_epoch", 0)
        self.stale: int = saved.get("stale", 0)
        self.done: bool = saved.get("done", False)

    def save(self) -> None:
        body = {"epoch": self.epoch, "best": self.best, "best_epoch": self.best_epoch, "stale": self.stale, "done": self.done}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(body, indent=2))
        tmp.replace(self.path)


def _checkpoint_callback(folder: Path, state: RunState, patience: int) -> Any:
    import keras

    class Checkpoint(keras.callbacks.Callback):  # type: ignore[misc]
        """ModelCheckpoint on val_accuracy plus EarlyStopping, with state that survives restarts."""

        def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
            score = float((logs or {}).get("val_accuracy", -math.inf))
            state.epoch = epoch + 1
            if score > state.best:
                state.best, state.best_epoch, state.stale = score, epoch + 1, 0
                self.model.save(folder / "best.keras")
            else:
                state.stale += 1
            self.model.save(folder / "last.keras.tmp.keras")
            (folder / "last.keras.tmp.keras").replace(folder / "last.keras")
            if patience and state.stale >= patience:
                log.info("no improvement for %d epochs: stopping early", state.stale)
                self.model.stop_training = True
            state.save()

    return Checkpoint()


def train(opts: TrainOptions) -> RunState:
    import keras

    from emostream.training.models import build_model

    folder = Path(opts.out)
    folder.mkdir(parents=True, exist_ok=True)
    state = RunState(folder)
    if state.done:
        log.info("run in %s already finished (best val accuracy %.4f at epoch %d)", folder, state.best, state.best_epoch)
        return state
    keras.utils.set_random_seed(opts.seed + state.epoch)
    (folder / "run.json").write_text(json.dumps(opts.to_json(), indent=2))
    train_ds, val_ds = load_splits(opts)
    log.info("training on %d images, validating on %d", len(train_ds), len(val_ds))
    steps_per_epoch = math.ceil(len(train_ds) / opts.batch_size)

    last = folder / "last.keras"
    if last.exists() and state.epoch > 0:
        log.info("resuming from %s after epoch %d", last, state.epoch)
        model = keras.models.load_model(last)
    else:
        model = build_model(opts.architecture, opts.model)
        if opts.lr_schedule == "cosine":
            learning_rate: Any = keras.optimizers.schedules.CosineDecay(
                initial_learning_rate=opts.learning_rate * 0.1,
                decay_steps=max(steps_per_epoch * (opts.epochs - opts.warmup_epochs), 1),
                warmup_target=opts.learning_rate,
                warmup_steps=steps_per_epoch * opts.warmup_epochs,
                alpha=0.01,
            )
        else:
            learning_rate = opts.learning_rate
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate),
            loss=keras.losses.CategoricalCrossentropy(label_smoothing=opts.label_smoothing),
            metrics=["accuracy"],
        )
    callbacks: list[Any] = [
        _checkpoint_callback(folder, state, opts.patience),
        keras.callbacks.CSVLogger(str(folder / "history.csv"), append=True),
    ]
    if opts.lr_schedule == "plateau":
        callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor="val_accuracy", factor=0.5, patience=5, min_lr=1e-6))
    started = time.monotonic()
    model.fit(
        _pipeline(train_ds, opts, training=True),
        validation_data=_pipeline(val_ds, opts, training=False),
        epochs=opts.epochs,
        initial_epoch=state.epoch,
        callbacks=callbacks,
        verbose=1 if sys.stdout.isatty() else 2,
    )
    state.done = True
    state.save()
    log.info(
        "finished in %.0f s: best val accuracy %.4f at epoch %d (%s)",
        time.monotonic() - started,
        state.best,
        state.best_epoch,
        folder / "best.keras",
    )
    return state


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = TrainOptions(data=Path("."), out=Path("."))
    m, a = d.model, d.augment
    p = parser.add_argument
    p("--data", type=Path, required=True, help="fer2013.csv (or .csv.gz), or a folder with train/<class>/ and test/<class>/ images")
    p("--out", type=Path, required=True, help="run folder for checkpoints, history and state; rerun to resume")
    p("--architecture", choices=ARCHITECTURES, default=d.architecture, help="network to build (default %(default)s)")
    p("--labels", choices=LABEL_SOURCES, default=d.labels, help="label source for training (default %(default)s); selection always uses FER2013 labels")
    p("--ferplus", type=Path, help="fer2013new.csv with FER+ votes, for --labels ferplus-*")
    p("--train-usage", default=d.train_usage, help="Usage value of the training rows (default %(default)s)")
    p("--val-usage", default=d.val_usage, help="Usage value of the validation rows used for model selection (default %(default)s)")
    p("--limit", type=int, default=0, help="use only this many training images (and a quarter as many validation images); 0 = all")
    p("--epochs", type=int, default=d.epochs, help="maximum epochs (default %(default)s)")
    p("--batch-size", type=int, default=d.batch_size, help="batch size (default %(default)s)")
    p("--learning-rate", type=float, default=d.learning_rate, help="peak Adam learning rate (default %(default)s)")
    p(
        "--lr-schedule",
        choices=("cosine", "plateau", "constant"),
        default=d.lr_schedule,
        help="cosine decay with warm-up, ReduceLROnPlateau, or constant (default %(default)s)",
    )
    p("--warmup-epochs", type=int, default=d.warmup_epochs, help="linear warm-up epochs for the cosine schedule (default %(default)s)")
    p("--patience", type=int, default=d.patience, help="early stopping: epochs without a better val accuracy; 0 = never (default %(default)s)")
    p("--label-smoothing", type=float, default=d.label_smoothing, help="label smoothing of the cross-entropy (default %(default)s)")
    p("--class-weights", choices=CLASS_WEIGHTS, default=d.class_weights, help="weigh classes against imbalance (default %(default)s)")
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
        limit=args.limit,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        lr_schedule=args.lr_schedule,
        warmup_epochs=args.warmup_epochs,
        patience=args.patience,
        label_smoothing=args.label_smoothing,
        class_weights=args.class_weights,
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
            flip=not args.no_flip, rotation_deg=args.rotation, shift=args.shift, zoom=args.zoom, contrast=args.contrast
        ),
    )


def main(args: argparse.Namespace) -> int:
    state = train(options_from_args(args))
    folder = Path(args.out)
    ending = f"all {args.epochs} epochs" if state.epoch >= args.epochs else f"stopped early after {state.epoch} of {args.epochs} epochs"
    print(f"run {folder}: {ending}; best val accuracy {state.best:.4f} at epoch {state.best_epoch}")
    print(f"  best model {folder / 'best.keras'}, history {folder / 'history.csv'}")
    print(f"  next: emostream evaluate --model {folder / 'best.keras'} --data {args.data} --out {folder / 'eval'}")
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="emostream train", description=__doc__)
    add_arguments(parser)
    sys.exit(main(parser.parse_args()))
