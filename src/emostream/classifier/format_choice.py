"""Which weights of a model folder to serve on this machine, decided without importing TensorFlow.

Details at :func:`resolve_format`.
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from typing import Any

from emostream.classifier import backends
from emostream.classifier.backends import gpu_device_present
from emostream.infra.cpufeatures import cpu_flags, fast_int8
from emostream.infra.modelcard import ModelCard

log = logging.getLogger(__name__)

# Variants computing in float on any CPU, best first, and those needing fast int8 dot products.
FLOAT_VARIANTS = ("float32", "fp16")
INT8_DOT_VARIANTS = ("dynamic",)


def gpu_visible() -> bool:
    """Whether the Keras backend this process uses (or, unchosen, any installed one) sees a GPU.

    Nothing is imported unless the OS shows a GPU device node and the backend is installed
    (:func:`emostream.classifier.backends.sees_gpu`).
    """
    if not gpu_device_present():
        return False
    name = backends.loaded_backend() or os.environ.get("KERAS_BACKEND")
    if name in backends.BACKENDS:
        return backends.sees_gpu(name)
    return any(backends.sees_gpu(candidate) for candidate in backends.GPU_ORDER)


def resolve_format(card: ModelCard, fmt: str) -> str:
    """``auto``: Keras where its backend sees a GPU, else TFLite when the folder has it, else Keras.

    On CPU the TFLite (XNNPACK) kernels run these small CNNs several times
    faster than TensorFlow's (docs/BENCHMARKS.md); on a GPU only the Keras
    model runs there, so a folder without a Keras file is served by TFLite on
    the CPU even where there is a GPU.

    Two choices, both made when ``classifier.format`` is ``auto``:

    - **Keras or TFLite.** Keras where its backend (``classifier.backend``,
      :mod:`emostream.classifier.backends`) sees a GPU, else TFLite when the
      folder has it. Asking TensorFlow costs the CPU classifier ~500 MiB of
      resident memory for the answer "no", so the question is first put to the
      operating system: with no GPU device node, or ``CUDA_VISIBLE_DEVICES``
      empty or -1, no framework can see one either, and none is imported.
    - **Which TFLite file.** A card may list several TFLite variants
      (``tflite_variants``, written by ``emostream export``). Dynamic-range int8
      (``dynamic``) is served only where the CPU has fast int8 dot products
      (:mod:`emostream.infra.cpufeatures`); elsewhere a float variant (``float32`` or
      ``fp16``: float maths on XNNPACK) is, because emulated int8 is 4-5 times
      slower. With no such alternative the card's own ``files.tflite`` is served.

    An explicit ``classifier.format: tflite`` serves ``files.tflite`` exactly, as
    evaluation and export need.
    """
    if fmt != "auto":
        return fmt
    if "tflite" in card.files and ("keras" not in card.files or not gpu_visible()):
        return "tflite"
    return "keras"


def _variants(card: ModelCard) -> dict[str, dict[str, Any]]:
    raw = card.extra.get("tflite_variants") or {}
    return {str(k): v for k, v in raw.items() if isinstance(v, dict) and v.get("file")} if isinstance(raw, dict) else {}


def tflite_choice(card: ModelCard, flags: frozenset[str] | None = None) -> tuple[str | None, str]:
    """The variant to serve on a CPU with ``flags`` (this one when None) and why; None: the card's ``files.tflite``."""
    variants = _variants(card)
    has_int8 = fast_int8(cpu_flags() if flags is None else flags)
    preferred, other = (INT8_DOT_VARIANTS, FLOAT_VARIANTS) if has_int8 else (FLOAT_VARIANTS, INT8_DOT_VARIANTS)
    cpu = "this CPU has fast int8 dot products" if has_int8 else "this CPU has no fast int8 dot products"
    for name in preferred:
        if name in variants:
            return name, f"{cpu}: serving the {name} TFLite file"
    served = card.files.get("tflite")
    served_kind = next((name for name, entry in variants.items() if entry["file"] == served), None)
    if served_kind in other and not has_int8:
        return None, f"{cpu}, and the card offers no float TFLite file: serving {served} ({served_kind}), which is slow here"
    return None, f"{cpu}; the card offers no alternative to {served}"


def serving_card(card: ModelCard, flags: frozenset[str] | None = None) -> ModelCard:
    """The card with ``files.tflite`` pointing at the variant suited to this CPU (its sha256 from the variant entry)."""
    name, why = tflite_choice(card, flags)
    log.info("model %s: %s", card.label, why)
    if name is None:
        return card
    entry = _variants(card)[name]
    sha256 = dict(card.sha256)
    if entry.get("sha256"):
        sha256[entry["file"]] = str(entry["sha256"])
    return replace(card, files={**card.files, "tflite": str(entry["file"])}, sha256=sha256)
