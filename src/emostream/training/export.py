"""``emostream export``: turn a trained Keras file into a model folder the classifier serves.

The folder holds ``model.keras`` (inference only, no optimizer state), TFLite
conversions and the model card ``model.json`` (classes, input size and colour,
preprocessing, training data and command, metrics, sha256 of each file).

TFLite variants:

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

The card lists one TFLite file as ``"tflite"`` (the one the classifier serves,
``--serve-tflite``); every converted file is listed with its sha256 under
``"tflite_variants"``. Training details come from ``run.json`` and
``state.json`` in the run folder next to the Keras file, metrics from an
``emostream evaluate`` report (``--report``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from emostream.infra.emotions import EMOTIONS
from emostream.infra.modelcard import CARD_FILE, TTA_MODES, ModelCard, load_card, sha256_of, write_card
from emostream.training.evaluate import KERAS_SUFFIXES, bare_card, fit_to_card
from emostream.training.provenance import metrics_section, read_json, training_section
from emostream.training.scoring import score_folder, training_images
from emostream.training.table import is_npz
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

    from emostream.classifier.runtime import with_policy

    model, out = Path(model), Path(out)
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

    run = read_json(model.parent / "run.json")
    if data is None and run and run.get("data") and Path(run["data"]).exists():
        data = Path(run["data"])
        log.info("using the run's training data %s", data)
    if "int8" in variants and data is None:
        raise ValueError("tflite-int8 needs --data: its calibration images come from the training data")

    keras_model = keras.models.load_model(model, compile=False)
    stand_in = bare_card(model, keras_model.input_shape, scale, offset)
    out.mkdir(parents=True, exist_ok=True)
    for stale in FILE_NAMES.values():
        (out / stale).unlink(missing_ok=True)
    # Always write model.keras: it is the reference the TFLite files are checked against.
    if keras_dtype == "float16":  # half the bytes; the classifier computes in float32 (or mixed on a GPU)
        with_policy(keras_model, "float16").save(out / FILE_NAMES["keras"])
    else:
        keras_model.save(out / FILE_NAMES["keras"])
    card = replace(stand_in, folder=out, name=name, version=version, files={"keras": FILE_NAMES["keras"]})

    calibration = check = None
    if data is not None:
        images = fit_to_card(training_images(data, run), card)
        order = np.random.default_rng(seed).permutation(len(images))
        picked = images[order[:calibration_samples]].astype(np.float32)
        calibration = picked * np.float32(card.scale) + np.float32(card.offset)  # the card's preprocessing
        check = images[order[calibration_samples : calibration_samples + check_samples]]

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

    training = training_section(model)
    body: dict[str, Any] = {
        "name": name,
        "version": version,
        "classes": list(EMOTIONS),
        "input": {"width": card.width, "height": card.height, "color": card.color},
        "preprocessing": {"scale": card.scale, "offset": card.offset},
        "files": {"keras": FILE_NAMES["keras"]},
        "training": training,
        "metrics": metrics_section(report, training["source_sha256"], tta) if report else {},
        "exported": {
            "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "tensorflow": _tf_version(),
            "keras": keras.__version__,
        },
    }
    if serve_tflite:
        body["files"]["tflite"] = tflite[serve_tflite]["file"]
        body["tflite_variants"] = tflite
    if license_text:
        body["license"] = license_text
    if source:
        body["source"] = source
    if tta:
        body["tta"] = tta
    if "keras" not in formats:
        # The Keras file was only the reference for the agreement check.
        (out / FILE_NAMES["keras"]).unlink()
        del body["files"]["keras"]
    write_card(out, body)
    if score is not None:
        body["metrics"] = score_folder(out, score, score_usage, score_out)
        if score_ferplus is not None or is_npz(score):
            # FER+ agreement as served, beside FER2013 accuracy: the figure the targets are stated in.
            ferplus_out = score_out / "ferplus" if score_out else None
            body["metrics_ferplus"] = score_folder(out, score, score_usage, ferplus_out, "ferplus-majority", score_ferplus)
        write_card(out, body)
    loaded = load_card(out)
    for fmt in loaded.files:
        loaded.verify(fmt)
    return loaded


def _tf_version() -> str:
    import tensorflow as tf

    return str(tf.__version__)


def format_summary(card: ModelCard) -> str:
    """What was written, with sizes, the served files and the TFLite agreement."""
    served = set(card.files.values())
    lines = [f"exported {card.label} to {card.folder}"]
    rows: list[tuple[str, str]] = []
    if "keras" in card.files:
        rows.append((card.files["keras"], "keras"))
    for variant, entry in card.extra.get("tflite_variants", {}).items():
        note = f"tflite {variant}"
        if "agreement_with_keras" in entry:
            note += f", same label as keras on {entry['agreement_with_keras']:.1%} of {entry['checked_on']} training faces"
        rows.append((entry["file"], note))
    for file, note in rows:
        size = (card.folder / file).stat().st_size / 1e6
        lines.append(f"  {file:<20} {size:7.2f} MB  {note}{'  (served)' if file in served else ''}")
    metrics = card.extra.get("metrics") or {}
    scores = f"accuracy {metrics['accuracy']:.4f}, macro F1 {metrics['macro_f1']:.4f}" if metrics else "no metrics (pass --report)"
    plus = card.extra.get("metrics_ferplus") or {}
    if plus:
        scores += f"; FER+ agreement {plus['accuracy']:.4f} on {plus['samples']} faces"
    lines.append(f"  {CARD_FILE:<20} input {card.width}x{card.height} {card.color}, pixels*{card.scale:.6g}{card.offset:+g}; {scores}")
    return "\n".join(lines)


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
