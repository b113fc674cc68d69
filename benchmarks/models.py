"""The models a benchmark measures: every packaged model folder, in every format its card lists.

Until a trained compact model ships, an untrained stand-in with the compact
architecture (random weights, same shapes and cost) is measured in its place,
labelled as such: speed depends on the architecture, not on the weights.
"""

from __future__ import annotations

import contextlib
import io
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from emostream.infra.emotions import EMOTIONS
from emostream.infra.modelcard import CARD_FILE, ModelCard, load_card, packaged_models_dir, write_card

log = logging.getLogger(__name__)

STAND_IN = "compact"


@dataclass(frozen=True)
class Candidate:
    """One model in one format, as the classifier would serve it."""

    label: str  # model name shown in tables
    card: ModelCard
    fmt: str  # "keras" or "tflite"
    variant: str  # what the tflite file is: "float32", "fp16", "int8"; "" for keras
    note: str  # where it comes from

    @property
    def format_label(self) -> str:
        return f"{self.fmt} ({self.variant})" if self.variant else self.fmt


def packaged_names() -> list[str]:
    """Model folders shipped in the package (a folder with a model card), found by listing."""
    root = packaged_models_dir()
    return sorted(p.name for p in root.iterdir() if (p / CARD_FILE).is_file())


def candidates_of(name: str, card: ModelCard, note: str) -> list[Candidate]:
    """The card's keras and tflite files, plus any extra TFLite variants it lists."""
    out = []
    if "keras" in card.files:
        out.append(Candidate(name, card, "keras", "", note))
    variants: dict[str, Any] = card.extra.get("tflite_variants") or {}
    served = card.files.get("tflite")
    if served and not any(v.get("file") == served for v in variants.values()):
        out.append(Candidate(name, card, "tflite", "float32", note))
    for variant, entry in sorted(variants.items()):
        file = entry.get("file")
        if file and (card.folder / file).is_file():
            out.append(Candidate(name, replace(card, files={**card.files, "tflite": file}), "tflite", variant, note))
    return out


def build_stand_in(folder: Path, int8: bool = False) -> ModelCard:
    """An untrained compact model (random weights) as a model folder: .keras, float32 .tflite, optional int8.

    Built with the training package's own builder, so its cost follows the
    architecture that will ship; converted like `emostream export` would.
    """
    import tensorflow as tf

    from emostream.training.models import ModelSpec, build_compact

    folder.mkdir(parents=True, exist_ok=True)
    spec = ModelSpec(weights=None)
    model = build_compact(spec)
    model.save(folder / "model.keras")
    with contextlib.redirect_stdout(io.StringIO()):  # the converter prints its saved-artifact listing
        blob = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    (folder / "model.tflite").write_bytes(blob)
    body: dict[str, Any] = {
        "name": "compact-untrained",
        "version": "0.0.0",
        "classes": list(EMOTIONS),
        "input": {"width": spec.input_size, "height": spec.input_size, "color": "gray"},
        "preprocessing": {"scale": 1 / 255.0, "offset": 0.0},
        "files": {"keras": "model.keras", "tflite": "model.tflite"},
        "training": {"note": "random weights: a stand-in for timing only"},
    }
    if int8:
        from emostream.training.tflite import convert_tflite

        calibration = np.random.default_rng(0).random((32, spec.input_size, spec.input_size, 1), dtype=np.float32)
        with contextlib.redirect_stdout(io.StringIO()):
            convert_tflite(model, folder / "model-int8.tflite", "int8", calibration)
        body["tflite_variants"] = {"float32": {"file": "model.tflite"}, "int8": {"file": "model-int8.tflite"}}
    write_card(folder, body)
    return load_card(folder)


FLOAT_VARIANTS = ("float32", "fp16")


def float_counterpart(name: str, card: ModelCard, workdir: Path) -> Candidate | None:
    """A float32 TFLite conversion of a packaged model that ships only int8 TFLite files, so both paths are measured.

    The classifier serves a float file where the CPU lacks fast int8 dot products
    (emostream.classifier.format_choice); a folder without one cannot show what that
    path would cost here, so the benchmark converts the Keras file itself.
    """
    variants: dict[str, Any] = card.extra.get("tflite_variants") or {}
    served = card.files.get("tflite")
    if "keras" not in card.files or not served or any(v in variants for v in FLOAT_VARIANTS):
        return None
    if not any(v.get("file") == served for v in variants.values()):
        return None  # the served file is not a known int8 variant: it may well be float already
    import keras
    import tensorflow as tf

    from emostream.classifier.keras_dtype import stored_in_float16, with_policy

    model = keras.models.load_model(card.path("keras"), compile=False)
    if stored_in_float16(model):
        model = with_policy(model, "float32")
    folder = workdir / f"{name}-float32"
    folder.mkdir(parents=True, exist_ok=True)
    with contextlib.redirect_stdout(io.StringIO()):
        (folder / "model-float32.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    (folder / "model.keras").unlink(missing_ok=True)
    (folder / "model.keras").symlink_to(card.path("keras"))  # so its multiply-adds are counted like the others'
    converted = replace(card, folder=folder, files={"keras": "model.keras", "tflite": "model-float32.tflite"}, sha256={}, extra={})
    return Candidate(name, converted, "tflite", "float32, converted here", "packaged Keras weights, converted by the benchmark")


def candidates(workdir: Path, int8_stand_in: bool = False, float_counterparts: bool = True) -> list[Candidate]:
    """Every packaged model in every format (and a float TFLite where it ships only int8); the compact stand-in."""
    out: list[Candidate] = []
    names = packaged_names()
    for name in names:
        card = load_card(name)
        out += candidates_of(name, card, "packaged")
        extra = float_counterpart(name, card, workdir) if float_counterparts else None
        if extra is not None:
            out.append(extra)
    if STAND_IN not in names:
        card = build_stand_in(workdir / "compact-untrained", int8=int8_stand_in)
        out += candidates_of("compact (untrained stand-in)", card, "random weights, compact architecture")
    return out


def multiply_adds(model: Any) -> int:
    """Multiply-accumulates of one forward pass for one input, from the layer shapes.

    Counts convolutions (plain, depthwise, separable) and dense layers, which
    is where all but a few percent of the arithmetic of these CNNs is.
    """
    total = 0
    for layer in model.layers:
        if hasattr(layer, "layers"):  # a model inside the model (the members of an ensemble)
            total += multiply_adds(layer)
            continue
        kind = type(layer).__name__
        if kind not in {"Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Dense"}:
            continue
        inp, out = layer.input.shape, layer.output.shape
        if kind == "Dense":
            total += int(np.prod(inp[1:-1] or [1])) * int(inp[-1]) * int(out[-1])
            continue
        kh, kw = layer.kernel_size
        positions = int(out[1]) * int(out[2])
        c_in, c_out = int(inp[-1]), int(out[-1])
        if kind == "Conv2D":
            total += positions * c_out * kh * kw * c_in // max(1, getattr(layer, "groups", 1))
        elif kind == "DepthwiseConv2D":
            total += positions * c_out * kh * kw
        else:  # separable: depthwise then pointwise
            multiplier = int(layer.depth_multiplier)
            total += positions * c_in * multiplier * kh * kw + positions * c_out * c_in * multiplier
    return total


def card_multiply_adds(card: ModelCard) -> int | None:
    """Multiply-adds per face as served (twice the model's with flip TTA), or None without a Keras file."""
    if "keras" not in card.files:
        return None
    import keras

    passes = 2 if card.tta == "flip" else 1
    try:
        return passes * multiply_adds(keras.models.load_model(card.path("keras"), compile=False))
    except Exception:  # a model we cannot inspect still gets timed
        log.warning("could not count the multiply-adds of %s", card.label, exc_info=True)
        return None
