"""``emostream export``: turn a trained Keras file into a model folder the classifier serves.

The folder holds ``model.keras`` (inference only, no optimizer state), TFLite
conversions and the model card ``model.json`` (classes, input size and colour,
preprocessing, training data and command, metrics, sha256 of each file).

The card (``exportcard``) lists the served TFLite file as ``"tflite"`` and
every converted one under ``"tflite_variants"``; training details come from
the run folder, metrics from ``--report`` or ``--score``.
"""

from __future__ import annotations

import argparse
import logging
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from emostream.infra.modelcard import CARD_FILE, TTA_MODES, ModelCard, load_card, sha256_of, write_card
from emostream.training.evaluate import KERAS_SUFFIXES, bare_card, fit_to_card
from emostream.training.exportcard import card_body, format_summary
from emostream.training.exportoptions import EXPORT_FORMATS, ExportOptions, add_arguments, export_command, options_from_args
from emostream.training.prior import training_prior
from emostream.training.provenance import read_json
from emostream.training.scoring import score_into_card, training_images
from emostream.training.tflite import agreement, convert_tflite

__all__ = ["EXPORT_FORMATS", "ExportOptions", "add_arguments", "export", "main", "options_from_args"]

log = logging.getLogger(__name__)

FILE_NAMES = {
    "keras": "model.keras",
    "tflite-float32": "model-float32.tflite",
    "tflite-fp16": "model-fp16.tflite",
    "tflite-dynamic": "model-dynamic.tflite",
    "tflite-int8": "model-int8.tflite",
}


def export(opts: ExportOptions) -> ModelCard:
    """Write the model folder ``opts.out`` and return its card, as loaded back by ``load_card``.

    ``opts.data`` (default: the ``data`` of ``run.json`` when that path exists)
    supplies int8 calibration images and the TFLite agreement check; without it
    fp16 files are exported unchecked and int8 is refused. ``tta="flip"``
    makes the classifier average each face with its mirror image (two passes;
    see ``emostream.classifier.runtime``); the card records it. ``score``
    evaluates the written folder as served (TFLite when exported) on the
    ``score_usage`` rows of that data and puts those metrics in the card, in
    place of a ``report``. ``keras_dtype="float16"`` stores the Keras weights
    in half precision (half the size; the classifier casts them back). With
    data, the card gets the class shares of its training labels as ``prior``
    (:mod:`emostream.training.prior`) and ``prior_tau`` (0 unless asked: the
    classifier then applies no prior). The card records the options as the
    ``emostream export`` command that repeats them.
    """
    import keras

    model, out = Path(opts.model), Path(opts.out)
    variants, serve_tflite = _check_options(opts)
    data, run = _training_data(model, opts.data, variants)
    if opts.prior_tau and data is None:
        raise ValueError("--prior-tau needs --data: the card's prior is the class shares of the training labels")
    keras_model = keras.models.load_model(model, compile=False)
    stand_in = bare_card(model, keras_model.input_shape, opts.scale, opts.offset)
    _write_keras(keras_model, out, opts.keras_dtype)
    card = replace(stand_in, folder=out, name=opts.name, version=opts.version, files={"keras": FILE_NAMES["keras"]})
    calibration, check = _samples(data, run, card, opts.seed, opts.calibration_samples, opts.check_samples)
    tflite = _convert(keras_model, card, variants, calibration, check)

    versions = (keras.__version__, _tf_version())
    body = card_body(card, model, opts.report, opts.tta, versions, tflite, serve_tflite, opts.license_text, opts.source)
    body["exported"]["command"] = export_command(opts)
    if data is not None:  # before any scoring: --score measures the folder as served, priors included
        body["prior"], body["prior_source"] = training_prior(data, run)
        body["prior_tau"] = opts.prior_tau
    if "keras" not in opts.formats:
        # The Keras file was only the reference for the agreement check.
        (out / FILE_NAMES["keras"]).unlink()
        del body["files"]["keras"]
    write_card(out, body)
    if opts.score is not None:
        score_into_card(out, body, opts.score, opts.score_usage, opts.score_out, opts.score_ferplus)
    loaded = load_card(out)
    for fmt in loaded.files:
        loaded.verify(fmt)
    return loaded


def _check_options(opts: ExportOptions) -> tuple[list[str], str | None]:
    """Refuse contradictory options before anything is loaded; the TFLite variants to write and the one to serve."""
    model, out, formats, serve_tflite = Path(opts.model), Path(opts.out), opts.formats, opts.serve_tflite
    report, score, tta, keras_dtype, force = opts.report, opts.score, opts.tta, opts.keras_dtype, opts.force
    unknown = set(formats) - set(EXPORT_FORMATS)
    if not formats or unknown:
        raise ValueError(f"formats must be among {EXPORT_FORMATS}, got {list(formats)}")
    if not model.is_file() or model.suffix.lower() not in KERAS_SUFFIXES:
        raise ValueError(f"{model}: expected a Keras file ({', '.join(KERAS_SUFFIXES)})")
    variants = [f.removeprefix("tflite-") for f in EXPORT_FORMATS if f in formats and f.startswith("tflite-")]
    if serve_tflite is None:
        serve_tflite = variants[0] if variants else None
    elif serve_tflite not in variants:
        raise ValueError(f"--serve-tflite {serve_tflite} needs tflite-{serve_tflite} among --formats")
    if score is not None and report is not None:
        raise ValueError("--score and --report both give the card its metrics: pass one")
    if tta not in TTA_MODES:
        raise ValueError(f"tta must be one of {list(TTA_MODES)}, got {tta!r}")
    if not math.isfinite(opts.prior_tau) or opts.prior_tau < 0:
        raise ValueError(f"prior_tau must be a finite number >= 0, got {opts.prior_tau!r}")
    if opts.prior_tau and report is not None:
        raise ValueError("--prior-tau with --report: the report scored the model without its priors; use --score, which measures the folder as served")
    if keras_dtype not in ("float32", "float16"):
        raise ValueError(f"keras_dtype must be float32 or float16, got {keras_dtype!r}")
    if (out / CARD_FILE).exists() and not force:
        raise FileExistsError(f"{out} already holds a model; pass --force to overwrite it")
    return variants, serve_tflite


def _training_data(model: Path, data: Path | None, variants: list[str]) -> tuple[Path | None, dict[str, Any] | None]:
    """The training data for calibration and checks (default: run.json's, when that path exists), and run.json."""
    run = read_json(model.parent / "run.json")
    if data is None and run and run.get("data") and Path(run["data"]).exists():
        data = Path(run["data"])
        log.info("using the run's training data %s", data)
    if "int8" in variants and data is None:
        raise ValueError("tflite-int8 needs --data: its calibration images come from the training data")
    return data, run


def _write_keras(keras_model: Any, out: Path, keras_dtype: str) -> None:
    """Always write model.keras (after clearing the folder's model files): it is the reference the TFLite files are checked against."""
    from emostream.classifier.keras_dtype import with_policy

    out.mkdir(parents=True, exist_ok=True)
    for stale in FILE_NAMES.values():
        (out / stale).unlink(missing_ok=True)
    if keras_dtype == "float16":  # half the bytes; the classifier computes in float32 (or mixed on a GPU)
        with_policy(keras_model, "float16").save(out / FILE_NAMES["keras"])
    else:
        keras_model.save(out / FILE_NAMES["keras"])


def _samples(
    data: Path | None, run: dict[str, Any] | None, card: ModelCard, seed: int, calibration_samples: int, check_samples: int
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """int8 calibration inputs (preprocessed as the card says) and raw check faces, disjoint samples of the training data."""
    if data is None:
        return None, None
    images = fit_to_card(training_images(data, run), card)
    order = np.random.default_rng(seed).permutation(len(images))
    picked = images[order[:calibration_samples]].astype(np.float32)
    calibration = picked * np.float32(card.scale) + np.float32(card.offset)  # the card's preprocessing
    return calibration, images[order[calibration_samples : calibration_samples + check_samples]]


def _convert(keras_model: Any, card: ModelCard, variants: list[str], calibration: np.ndarray | None, check: np.ndarray | None) -> dict[str, dict[str, Any]]:
    """Each TFLite variant's file and sha256, with its agreement with the Keras model on ``check`` when there is one.

    The variants:

    - ``tflite-float32``: float32 weights and maths, exactly the Keras model; what
      XNNPACK runs fastest on CPUs without fast int8 dot products (AVX2 only).
    - ``tflite-fp16``: float16 weights, float32 maths; half the size, same labels.
    - ``tflite-dynamic``: int8 weights; activations are quantised on the fly,
      batch by batch, so no calibration is needed and accuracy stays closer to
      float than full-integer int8. A quarter of the size; on CPUs with fast
      integer dot products (AVX-512 VNNI) several times faster than float.
    - ``tflite-int8``: full-integer model (int8 weights, activations, input and
      output) calibrated on a representative sample of the *training* data, for
      CPUs and accelerators that only do integer maths. Its agreement with the
      Keras model is measured on a further training sample and recorded in the card.
    """
    out = card.folder
    tflite: dict[str, dict[str, Any]] = {}
    for variant in variants:
        file = FILE_NAMES[f"tflite-{variant}"]
        log.info("converting to TFLite %s", variant)
        convert_tflite(keras_model, out / file, variant, calibration)
        tflite[variant] = {"file": file, "sha256": sha256_of(out / file)}
    if check is not None and len(check) and tflite:
        from emostream.classifier.runtime import load_runtime

        runtime = load_runtime(card, "keras", batch_max=32)
        reference = runtime.predict(check)
        runtime.close()
        for entry in tflite.values():
            entry.update(agreement(card, entry["file"], check, reference))
    return tflite


def _tf_version() -> str:
    import tensorflow as tf

    return str(tf.__version__)


def main(args: argparse.Namespace) -> int:
    print(format_summary(export(options_from_args(args))))
    return 0


if __name__ == "__main__":
    import sys

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="emostream export", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    sys.exit(main(parser.parse_args()))
