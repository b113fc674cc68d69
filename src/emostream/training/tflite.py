"""TFLite conversion of a Keras model, and how closely a converted file agrees with it.

Variants: ``float32`` (no quantisation), ``fp16`` (float16 weights, float32 maths), ``dynamic`` (int8
weights, activations quantised per batch as the model runs) and ``int8``
(full-integer, calibrated on representative faces). See ``emostream export``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from emostream.infra.modelcard import ModelCard


def _representative(samples: np.ndarray) -> Any:
    """A generator factory in the shape the TFLite converter wants: one batch of one sample a step."""

    def gen() -> Iterator[list[np.ndarray]]:
        for sample in samples:
            yield [sample[None]]

    return gen


def convert_tflite(model: Any, path: Path, variant: str, calibration: np.ndarray | None = None) -> Path:
    """Write ``model`` as TFLite (float16, dynamic-range or full-integer int8), built-in ops only.

    Built-ins only (no Select TF ops): the file must run on the plain TFLite/
    LiteRT interpreter the classifier and edge devices use. The batch dimension
    stays dynamic so the runtime can size one interpreter per batch bucket.
    """
    import tensorflow as tf

    options: dict[str, Any] = {"optimizations": [tf.lite.Optimize.DEFAULT]}
    if variant == "float32":
        options = {"target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]}}
    elif variant == "fp16":
        options["target_spec"] = {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS], "supported_types": [tf.float16]}
    elif variant == "dynamic":
        options["target_spec"] = {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]}
    elif variant == "int8":
        if calibration is None or not len(calibration):
            raise ValueError("int8 conversion needs calibration images")
        options.update(
            representative_dataset=_representative(calibration),
            target_spec={"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]},
            inference_input_type=tf.int8,
            inference_output_type=tf.int8,
        )
    else:
        raise ValueError(f"unknown TFLite variant {variant!r}")
    model.export(str(path), format="litert", verbose=False, **options)
    return path


def agreement(card: ModelCard, variant_file: str, images: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """How often a TFLite file picks the same label as the Keras model, and its largest probability gap."""
    from emostream.classifier.runtime import load_runtime

    runtime = load_runtime(replace(card, files={"tflite": variant_file}), "tflite", batch_max=32)
    try:
        probs = runtime.predict(images)
    finally:
        runtime.close()
    same = float(np.mean(np.argmax(probs, 1) == np.argmax(reference, 1)))
    return {
        "agreement_with_keras": round(same, 4),
        "max_abs_prob_diff": round(float(np.abs(probs - reference).max()), 4),
        "checked_on": len(images),
    }
