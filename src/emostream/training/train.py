"""``emostream train``: fit a model, checkpointing every epoch so a run can resume.

A run lives in one folder (``--out``): ``last.keras`` (model and optimizer after
the latest epoch), ``best.keras`` (best validation accuracy so far),
``state.json`` (epoch, best score, epochs without improvement), ``history.csv``
and ``run.json`` (the options). Starting the same command again resumes from
``last.keras``; early stopping and the best score survive the restart because
they live in ``state.json``, not in callback memory.

With ``--holdout 0.1`` the best epoch is chosen on a tenth of Training
(:mod:`emostream.training.selection`) and FER+ Valid is scored once, when the
run has finished, into ``state.json``'s ``reported``; ``val_accuracy`` in the
history is then the holdout's.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from emostream.training.batches import make_batches, normalise
from emostream.training.options import CLASS_WEIGHTS, TrainOptions, add_arguments, options_from_args
from emostream.training.selection import load_splits, report_once

log = logging.getLogger(__name__)

__all__ = ["TrainOptions", "add_arguments", "load_splits", "main", "normalise", "train"]


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


def build_optimizer(opts: TrainOptions, steps_per_epoch: int) -> Any:
    """The optimizer with its learning-rate schedule; both are saved in ``last.keras`` and resume with it."""
    import keras

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
    if opts.optimizer == "adamw":
        return keras.optimizers.AdamW(learning_rate, weight_decay=opts.weight_decay)
    if opts.optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate, momentum=0.9, nesterov=True, weight_decay=opts.weight_decay or None)
    return keras.optimizers.Adam(learning_rate)


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
        self.reported: dict[str, Any] | None = saved.get("reported")

    def save(self) -> None:
        body: dict[str, Any] = {"epoch": self.epoch, "best": self.best, "best_epoch": self.best_epoch, "stale": self.stale, "done": self.done}
        if self.reported is not None:
            body["reported"] = self.reported
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(body, indent=2))
        tmp.replace(self.path)


def _checkpoint_callback(folder: Path, state: RunState, patience: int, stop_after: int = 0) -> Any:
    import keras

    ran = [0]

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
            ran[0] += 1
            if stop_after and ran[0] >= stop_after:
                log.info("stopping after %d epoch(s) as asked; rerun the command to resume", ran[0])
                self.model.stop_training = True
            state.save()

    return Checkpoint()


def limit_threads(threads: int) -> None:
    """Cap TensorFlow's CPU threads (0 = its default, all cores).

    On a CPU shared with other work, one thread wastes less time spinning on
    contended cores (measured: 3.0 against 3.7 CPU-ms per face for ``fast``).
    JAX is left alone: XLA sizes its own pool.
    """
    import keras

    if threads and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)


def _model(opts: TrainOptions, last: Path, state: RunState, steps_per_epoch: int) -> Any:
    """The model to train: resumed from ``last`` after a paused epoch, else built (and compiled) afresh."""
    import keras

    from emostream.training.models import build_model

    if last.exists() and state.epoch > 0:
        log.info("resuming from %s after epoch %d", last, state.epoch)
        return keras.models.load_model(last)
    model = build_model(opts.architecture, opts.model)
    if opts.init_from:
        # A second cosine cycle from a finished run's best weights (warm restart): the
        # optimizer state and schedule start afresh, the weights do not.
        log.info("starting from the weights of %s", opts.init_from)
        model.set_weights(keras.models.load_model(opts.init_from, compile=False).get_weights())
    model.compile(
        optimizer=build_optimizer(opts, steps_per_epoch),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=opts.label_smoothing),
        metrics=["accuracy"],
    )
    return model


def _training_batches(opts: TrainOptions, train_ds: Any, state: RunState) -> Any:
    """The training batches from the epoch the run stands at, weighted by class when ``class_weights`` says so."""
    weights = None
    if opts.class_weights != "none":
        weights = train_ds.labels @ class_weight_vector(train_ds.labels, opts.class_weights)
    return make_batches(
        train_ds,
        opts.batch_size,
        training=True,
        seed=opts.seed,
        first_epoch=state.epoch,
        augment=opts.augment,
        weights=weights,
        steps=opts.steps_per_epoch,
    )


def train(opts: TrainOptions, stop_after: int = 0, threads: int = 0) -> RunState:
    """Run (or resume) the training ``opts`` describe; ``stop_after`` ends this invocation after that
    many epochs (0 = run to the end), leaving the run resumable: CPU training spread over working days.
    """
    import keras

    limit_threads(threads)
    folder = Path(opts.out)
    folder.mkdir(parents=True, exist_ok=True)
    state = RunState(folder)
    if state.done:
        log.info("run in %s already finished (best selection accuracy %.4f at epoch %d)", folder, state.best, state.best_epoch)
        return _report(opts, folder, state)
    keras.utils.set_random_seed(opts.seed + state.epoch)
    # The backend is recorded for provenance: a .keras file trained under JAX loads under TensorFlow.
    (folder / "run.json").write_text(json.dumps({**opts.to_json(), "backend": keras.backend.backend()}, indent=2))
    train_ds, val_ds = load_splits(opts)
    log.info("training on %d images, validating on %d", len(train_ds), len(val_ds))
    steps_per_epoch = math.ceil(len(train_ds) / opts.batch_size)
    if opts.steps_per_epoch > 0:
        steps_per_epoch = min(steps_per_epoch, opts.steps_per_epoch)

    model = _model(opts, folder / "last.keras", state, steps_per_epoch)
    callbacks: list[Any] = [
        _checkpoint_callback(folder, state, opts.patience, stop_after),
        keras.callbacks.CSVLogger(str(folder / "history.csv"), append=True),
    ]
    if opts.lr_schedule == "plateau":
        callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor="val_accuracy", factor=0.5, patience=5, min_lr=1e-6))
    started = time.monotonic()
    batches = _training_batches(opts, train_ds, state)
    model.fit(
        batches,
        validation_data=make_batches(val_ds, opts.batch_size, training=False),
        epochs=opts.epochs,
        initial_epoch=state.epoch,
        callbacks=callbacks,
        verbose=1 if sys.stdout.isatty() else 2,
    )
    state.done = state.epoch >= opts.epochs or bool(opts.patience and state.stale >= opts.patience)
    state.save()
    log.info(
        "%s in %.0f s: best %s accuracy %.4f at epoch %d (%s)",
        "finished" if state.done else "paused",
        time.monotonic() - started,
        "holdout" if opts.holdout else "val",
        state.best,
        state.best_epoch,
        folder / "best.keras",
    )
    return _report(opts, folder, state) if state.done else state


def _report(opts: TrainOptions, folder: Path, state: RunState) -> RunState:
    """A finished run that selected on a holdout scores ``--val-usage`` once; a rerun does not score it again."""
    if opts.holdout and state.reported is None and (folder / "best.keras").is_file():
        state.reported = {"best_epoch": state.best_epoch, **report_once(opts, folder / "best.keras")}
        state.save()
    return state


def main(args: argparse.Namespace) -> int:
    state = train(options_from_args(args), stop_after=args.stop_after_epochs, threads=args.threads)
    folder = Path(args.out)
    if state.epoch >= args.epochs:
        ending = f"all {args.epochs} epochs"
    elif state.done:
        ending = f"stopped early after {state.epoch} of {args.epochs} epochs"
    else:
        ending = f"paused after {state.epoch} of {args.epochs} epochs (rerun to resume)"
    selected_on = f"holdout ({args.holdout:.0%} of {args.train_usage})" if args.holdout else args.val_usage
    print(f"run {folder}: {ending}; best accuracy on {selected_on} {state.best:.4f} at epoch {state.best_epoch}")
    if state.reported:
        r = state.reported
        once = f"{r['accuracy_one_pass']:.4f} one pass, {r['accuracy_flip']:.4f} flip TTA, macro F1 {r['macro_f1_flip']:.3f}"
        print(f"  {r['usage']} (scored once, chose nothing): {once}")
    print(f"  best model {folder / 'best.keras'}, history {folder / 'history.csv'}")
    labels = "" if args.labels == "fer2013" else " --labels ferplus-majority" + (f" --ferplus {args.ferplus}" if args.ferplus else "")
    print(f"  next: emostream evaluate --model {folder / 'best.keras'} --data {args.data}{labels} --out {folder / 'eval'}")
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="emostream train", description=__doc__)
    add_arguments(parser)
    sys.exit(main(parser.parse_args()))
