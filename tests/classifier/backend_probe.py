"""Serve faces with the Keras runtime on one backend, in a process of its own (the backend is fixed per process).

``python -m tests.classifier.backend_probe BACKEND MODEL FACES.npy OUT.npy [--as-gpu DTYPE]``
writes the probabilities of the uint8 faces and prints the backend Keras used and the
runtime's precision and batch shapes as JSON. ``--as-gpu DTYPE`` makes the runtime take
the GPU path on this CPU (smallest batch shape 64, mixed precision in DTYPE), so the
reduced-precision model the GPU would serve can be compared with float32 where no GPU is.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from emostream.classifier import backends
from emostream.classifier import runtime as rt
from emostream.infra.modelcard import load_card


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("backend")
    parser.add_argument("model")
    parser.add_argument("faces")
    parser.add_argument("out")
    parser.add_argument("--as-gpu", choices=["bfloat16", "float16"])
    parser.add_argument("--batch-max", type=int, default=64)
    args = parser.parse_args()
    if args.as_gpu:
        backends.sees_gpu = lambda name: True
        rt.reduced_dtype = lambda backend: str(args.as_gpu)
    runtime = rt.load_runtime(load_card(args.model), "keras", args.batch_max, mixed_precision=bool(args.as_gpu), backend=args.backend)
    assert isinstance(runtime, rt.KerasRuntime)
    np.save(args.out, runtime.predict(np.load(args.faces)))
    print(json.dumps({"backend": runtime.backend, "precision": runtime.precision, "buckets": list(runtime.buckets)}))


if __name__ == "__main__":
    main()
