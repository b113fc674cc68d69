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
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from emostream.infra.modelcard import CARD_FILE, TTA_MODES, ModelCard, load_card, sha256_of, write_card
from emostream.training.evaluate import KERAS_SUFFIXES, bare_card, fit_to_card
from emostream.training.exportcard import card_body, format_summary
from emostream.training.provenance import read_json
from emostream.training.scoring import score_into_card, training_images
from emostream.training.tflite import agreement, convert_tflite

log = logging.getLogger(__name__)

EXPORT_FORMATS = ("keras", "tflite-float32", "tflite-fp16", "tflite-dynamic", "tflite-int8")
FILE_NAMES = {
    "keras": "model.keras",
    "tflite-float32": "model-float32.tflite",
    "tflite-fp16": "model-fp16.tflite",
    "tflite-dynamic": "model-dynamic.tflite",
    "tflite-int8": "model-int8.tflite",
}


def export(
    model: Path,
    out: Path,
    name: str,
    version: str,
    formats: tuple[str, ...] = ("keras", "tflite-fp16"),
    data: Path | None = None,
    report: Path | None = None,
    serve_tflite: str | None = None,
    scale: float | None = None,
    offset: float | None = None,
    calibration_samples: int = 200,
    check_samples: int = 200,
    seed: int = 1337,
    license_text: str | None = None,
    source: str | None = None,
    force: bool = False,
    tta: str = "",
    score: Path | None = None,
    score_usage: str = "PublicTest",
    score_out: Path | None = None,
    score_ferplus: Path | None = None,
    keras_dtype: str = "float32",
) -> ModelCard:
    """Write a model folder to ``out`` and return its card, as loaded back by ``load_card``.

    ``data`` (default: the ``data`` of ``run.json`` when that path exists)
    supplies int8 calibration images and the TFLite agreement check; without it
    fp16 files are exported unchecked and int8 is refused. ``tta="flip"``
    makes the classifier average each face with its mirror image (two passes;
    see ``emostream.classifier.runtime``); the card records it. ``score``
    evaluates the written folder as served (TFLite when exported) on the
    ``score_usage`` rows of that data and puts those metrics in the card, in
    place of a ``report``. ``keras_dtype="float16"`` stores the Keras weights
    in half precision (half the size; the classifier casts them back).
    """
    import keras

    model, out = Path(model), Path(out)
    variants, serve_tflite = _check_options(model, out, formats, serve_tflite, report, score, tta, keras_dtype, force)
    data, run = _training_data(model, data, variants)
    keras_model = keras.models.load_model(model, compile=False)
    stand_in = bare_card(model, keras_model.input_shape, scale, offset)
    _write_keras(keras_model, out, keras_dtype)
    card = replace(stand_in, folder=out, name=name, version=version, files={"keras": FILE_NAMES["keras"]})
    calibration, check = _samples(data, run, card, seed, calibration_samples, check_samples)
    tflite = _convert(keras_model, card, variants, calibration, check)

    body = card_body(card, model, report, tta, (keras.__version__, _tf_version()), tflite, serve_tflite, license_text, source)
    if "keras" not in formats:
        # The Keras file was only the reference for the agreement check.
        (out / FILE_NAMES["keras"]).unlink()
        del body["files"]["keras"]
    write_card(out, body)
    if score is not None:
        score_into_card(out, body, score, score_usage, score_out, score_ferplus)
    loaded = load_card(out)
    for fmt in loaded.files:
        loaded.verify(fmt)
    return loaded


def _check_options(
    model: Path, out: Path, formats: tuple[str, ...], serve_tflite: str | None, report: Path | None, score: Path | None,
    tta: str, keras_dtype: str, force: bool,
) -> tuple[list[str], str | None]:
    """Refuse contradictory options before anything is loaded; the TFLite variants to write and the one to serve."""
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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    p = parser.add_argument
    p(
        "--model",
        type=Path,
        required=True,
        help="the Keras file to export, e.g. runs/NAME/best.keras; run.json and state.json next to it fill the card's training section",
    )
    p("--out", type=Path, required=True, help="model folder to write (model.keras, *.tflite, model.json)")
    p("--name", help="model name in the card (default: the --out folder's name)")
    p("--version", default="1.0.0", help="model version in the card (default %(default)s)")
    p("--formats", nargs="+", choices=EXPORT_FORMATS, default=["keras", "tflite-fp16"], help="files to write (default: %(default)s)")
    p(
        "--serve-tflite",
        choices=("float32", "fp16", "dynamic", "int8"),
        help="the TFLite variant the card lists as 'tflite' (default: the first exported of float32, fp16, dynamic, int8)",
    )
    p(
        "--data",
        type=Path,
        help="training data (fer2013.csv[.gz] or image folder) for int8 calibration and the TFLite agreement check "
        "(default: run.json's data, when it exists)",
    )
    p("--calibration-samples", type=int, default=200, help="training faces used to calibrate int8 (default %(default)s)")
    p(
        "--check-samples",
        type=int,
        default=200,
        help="further training faces on which TFLite labels are compared with Keras; 0 = skip (default %(default)s)",
    )
    p("--seed", type=int, default=1337, help="random seed for picking the calibration and check faces (default %(default)s)")
    p("--report", type=Path, help="report.json from `emostream evaluate`, whose headline metrics go into the card")
    p("--scale", type=float, help="preprocessing scale, input = pixels*scale+offset (default 1/255, what `emostream train` uses)")
    p("--offset", type=float, help="preprocessing offset (default 0)")
    p("--license", help="licence text for the card, e.g. of the weights or the training data")
    p("--source", help="where the model comes from, for the card")
    p("--force", action="store_true", help="overwrite a model folder that already exists")
    p(
        "--keras-dtype",
        choices=("float32", "float16"),
        default="float32",
        help="storage of the model.keras weights: float16 halves the file; the classifier computes in float32 "
        "on a CPU, mixed precision on a GPU (default %(default)s)",
    )
    p("--score", type=Path, help="labelled data (fer2013.csv[.gz] or image folder): evaluate the written folder as served and put its metrics in the card")
    p("--score-ferplus", type=Path, help="fer2013new.csv: with --score, also score FER+ majority agreement (automatic for a packed .npz)")
    p("--score-usage", default="PublicTest", help="FER2013 rows --score evaluates on (default %(default)s)")
    p("--score-out", type=Path, help="folder for the --score report.json, confusion.csv and confusion.png")
    p(
        "--tta",
        choices=["flip"],
        default="",
        help="test-time augmentation the classifier applies: 'flip' averages each face with its mirror image "
        "(twice the inference cost); the --report must then come from `emostream evaluate --tta`",
    )


def main(args: argparse.Namespace) -> int:
    card = export(
        model=args.model,
        out=args.out,
        name=args.name or Path(args.out).resolve().name,
        version=args.version,
        formats=tuple(args.formats),
        data=args.data,
        report=args.report,
        serve_tflite=args.serve_tflite,
        scale=args.scale,
        offset=args.offset,
        calibration_samples=args.calibration_samples,
        check_samples=args.check_samples,
        seed=args.seed,
        license_text=args.license,
        source=args.source,
        force=args.force,
        tta=args.tta,
        score=args.score,
        score_usage=args.score_usage,
        score_out=args.score_out,
        score_ferplus=args.score_ferplus,
        keras_dtype=args.keras_dtype,
    )
    print(format_summary(card))
    return 0


if __name__ == "__main__":
    import sys

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="emostream export", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    sys.exit(main(parser.parse_args()))
