"""Detector settings side by side through a real ingest worker: analysed frames/s, faces/s and CPU per frame.

    PYTHONPATH=src:. python -m benchmarks.ingest_ab '{"every frame": {"interval": 1}, "interval 3": {"interval": 3}}' 1,9 3 [640x480]

Each setting (``detector`` section values, and ``ingest`` section values under the key
``"ingest"``; ``{}`` is the checkout's default) is
run with each number of sources of the bench's demo clip (``benchmarks.ingest``),
alternating, for the given number of rounds: the same
:func:`benchmarks.ingest_stages.profile` as the stage table, one line per run.
Run it in two checkouts in turn to compare them at the same load.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from benchmarks import ingest_stages
from benchmarks.ingest import demo_clip, make_clip


def main(argv: list[str]) -> int:
    settings = json.loads(argv[0])
    sources = [int(s) for s in argv[1].split(",")]
    rounds = int(argv[2])
    size = argv[3] if len(argv) > 3 else "640x480"
    w, h = (int(v) for v in size.split("x"))
    with tempfile.TemporaryDirectory(prefix="emostream-ingest-ab-") as d:
        clip = make_clip(demo_clip(), Path(d) / "clip.mp4", w, h, repeat=2 if w == 640 else 1)
        for r in range(rounds):
            for n in sources:
                for name, values in settings.items():
                    detector = {k: v for k, v in values.items() if k != "ingest"}
                    run = ingest_stages.Run(name, detector, n, ingest=tuple(values.get("ingest", {}).items()))
                    p = ingest_stages.profile(clip, size, run, Path(d))
                    print(
                        f"round {r} {size} {name} x{n}: {p.fps:.1f} frames/s, {p.faces_s:.0f} faces/s, "
                        f"{p.faces / max(p.frames, 1):.2f} faces/frame, cpu {sum(p.cpu.values()):.2f} ms/frame "
                        f"(detect {p.cpu.get('detect', 0):.2f}, track {p.cpu.get('track', 0):.2f}), cores {p.cores:.2f}, "
                        f"load {p.load[0]:.1f}->{p.load[1]:.1f}",
                        flush=True,
                    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
