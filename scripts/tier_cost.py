"""Faces per second of the `fast` and `accurate` tiers side by side, as the classifier serves them on this CPU.

    PYTHONPATH=src:. .venv/bin/python scripts/tier_cost.py [--rounds 5] [--seconds 4] [--threads 2]

The classifier's runtime (``load_runtime``: fixed batch shapes, the card's
flip TTA), a batch of 64 faces, every TFLite variant the cards list. The
models are measured in alternation, round by round, so that a shared
machine's load falls on all of them alike: on a busy machine the ratio
between the tiers is the figure to trust, not the absolute rates. The load
average before and after is printed with the results. ``make bench``
(docs/BENCHMARKS.md) measures every model and batch size.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

import numpy as np

from benchmarks.classifier import time_batch
from benchmarks.models import candidates_of
from emostream.classifier.runtime import load_runtime
from emostream.infra.modelcard import load_card, packaged_models_dir


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["fast", "accurate"])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    with open("/proc/cpuinfo") as cpuinfo:
        flags = cpuinfo.read().split("flags", 2)[1].split("\n", 1)[0].split()
    print(f"CPU: {os.cpu_count()} cores, avx2={'avx2' in flags}, avx512_vnni={'avx512_vnni' in flags}, avx_vnni={'avx_vnni' in flags}")
    print(f"load average before: {os.getloadavg()}")
    runtimes = []
    for name in args.models:
        card = load_card(packaged_models_dir() / name)
        for cand in candidates_of(name, card, ""):
            if cand.fmt == "tflite":
                runtimes.append((f"{name} {cand.format_label}", load_runtime(cand.card, "tflite", batch_max=args.batch, threads=args.threads)))
    rates: dict[str, list[float]] = {label: [] for label, _ in runtimes}
    for _ in range(args.rounds):
        for label, runtime in runtimes:
            crops = np.random.default_rng(0).integers(0, 256, (args.batch, *runtime.card.input_shape), dtype=np.uint8)
            rates[label].append(time_batch(runtime, crops, args.seconds, 1).faces_s)
    print(f"load average after: {os.getloadavg()}")
    for label, values in rates.items():
        print(f"{label:<28} median {statistics.median(values):8.0f} faces/s  (rounds: {', '.join(f'{v:.0f}' for v in values)})")
    for _, runtime in runtimes:
        runtime.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
