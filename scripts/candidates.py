"""Measure candidate CPU architectures before training any: multiply-adds and faces/s with random weights.

Each candidate is built with random weights, converted to float32 and to
dynamic-range TFLite, and timed through the TFLite interpreter (XNNPACK) the
way the classifier serves a card with flip TTA: a batch of 64 faces is run as
128 images (the faces and their mirror images), with 2 threads. Each figure is
faces per second over ``--seconds`` of back-to-back batches, repeated
``--repeats`` times; on a shared machine take the best of the repeats and say
what else was running.

    .venv/bin/python scripts/candidates.py fast compact standard
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def multiply_adds(model: Any) -> int:
    """Multiply-adds of one forward pass over one face: convolutions and dense layers."""
    from keras import layers

    total = 0
    for layer in model.layers:
        if isinstance(layer, layers.Conv2D):
            h, w, c = layer.output.shape[1:]
            kh, kw, cin, _ = layer.kernel.shape
            total += h * w * c * kh * kw * cin
        elif isinstance(layer, layers.Dense):
            total += layer.kernel.shape[0] * layer.kernel.shape[1]
    return int(total)


def faces_per_second(path: Path, faces: int, threads: int, seconds: float, repeats: int) -> list[float]:
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(model_path=str(path), num_threads=threads)
    entry = interpreter.get_input_details()[0]
    interpreter.resize_tensor_input(entry["index"], (2 * faces, 48, 48, 1))
    interpreter.allocate_tensors()
    batch = np.random.default_rng(0).random((2 * faces, 48, 48, 1), dtype=np.float32)
    for _ in range(3):
        interpreter.set_tensor(entry["index"], batch)
        interpreter.invoke()
    rates = []
    for _ in range(repeats):
        start, done = time.perf_counter(), 0
        while time.perf_counter() - start < seconds:
            interpreter.set_tensor(entry["index"], batch)
            interpreter.invoke()
            done += faces
        rates.append(round(done / (time.perf_counter() - start)))
    return rates


def main() -> None:
    from emostream.training.models import ARCHITECTURES, ModelSpec, build_model
    from emostream.training.tflite import convert_tflite

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("architectures", nargs="+", choices=ARCHITECTURES)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--faces", type=int, default=64, help="faces per batch; each is run twice (flip TTA)")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.architectures:
            model = build_model(name, ModelSpec(weights=None))
            row: dict[str, Any] = {"architecture": name, "mmacs_per_pass": round(multiply_adds(model) / 1e6, 1), "params": model.count_params()}
            for variant in ("float32", "dynamic"):
                path = convert_tflite(model, Path(tmp) / f"{name}-{variant}.tflite", variant)
                row[f"{variant}_faces_per_s_tta"] = faces_per_second(path, args.faces, args.threads, args.seconds, args.repeats)
                row[f"{variant}_bytes"] = os.path.getsize(path)
            row["loadavg"] = os.getloadavg()[0]
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
