"""Many people at 0°, 15° and 30° roll: the scene benchmark's roll sweep, large enough to read the crop's roll cost.

The roll sweep's clips show about 24 people each, so one person reading
differently moves a clip's agreement by ~4 points and the "roll 30° costs
≤ 2 points" figure is mostly chance. This study pastes every face of a split's
pool (600) once into each of three clips, the same person in the same place at
the same size in all three and only the roll different (±15° and ±30°, one
sign per person), four faces in a 640x480 frame, 80-120 px as in the roll
sweep, H.264 at the benchmark's CRF, with the benchmark's ground truth format;
:mod:`benchmarks.scenes.fidelity` then detects, crops and classifies them, and
the roll cost can be compared on the same people found at both rolls.

    python -m benchmarks.scenes.rollstudy --split tune [--variants crop,keep8]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.scenes import compose
from benchmarks.scenes.backgrounds import scene_background
from benchmarks.scenes.conditions import CRF, FPS, Condition
from benchmarks.scenes.encode import write_mp4
from benchmarks.scenes.faces import SPLITS, face_pool
from benchmarks.scenes.generate import CACHE, rng_for
from benchmarks.scenes.scene import finish

ROLLS = (0.0, 15.0, 30.0)
WIDTH, HEIGHT, PER_FRAME = 640, 480, 4


def _frames(split: str, roll: float) -> Iterator[tuple[np.ndarray, list[dict[str, Any]]]]:
    pool = face_pool(split, CACHE)
    rng = rng_for(split, "rollstudy")  # the same draws for every roll: same people, places, sizes, signs
    cells = [(WIDTH * (0.25 + 0.5 * (k % 2)), HEIGHT * (0.25 + 0.5 * (k // 2))) for k in range(PER_FRAME)]
    cond = Condition("rollstudy", crf=CRF)
    for start in range(0, len(pool.rows), PER_FRAME):
        frame = scene_background(HEIGHT, WIDTH, rng).copy()
        faces = []
        for k, index in enumerate(range(start, min(start + PER_FRAME, len(pool.rows)))):
            size, sign = int(rng.integers(80, 121)), float(rng.choice([-1.0, 1.0]))
            jx, jy = rng.uniform(-20, 20, 2)
            row = int(pool.rows[index])
            tone, hair = compose.TONES[row % len(compose.TONES)], compose.HAIR[row // len(compose.TONES) % len(compose.HAIR)]
            cx, cy = cells[k][0] + jx, cells[k][1] + jy
            compose.paste(frame, *compose.head_patch(pool.images[index], size, roll * sign, tone, hair), cx, cy)
            faces.append({"id": f"fer{row}", "row": row, "label": pool.label(index), "box": compose.face_box(cx, cy, size), "roll": roll * sign})
        yield finish(frame, cond), faces


def clip(split: str, roll: float, folder: Path) -> Path:
    """The clip of every pool face at ``roll`` (made once), with its ground truth beside it."""
    path = folder / f"rollstudy_{roll:g}.mp4"
    if path.is_file() and path.with_suffix(".json").is_file():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    truth: list[list[dict[str, Any]]] = []

    def frames() -> Iterator[np.ndarray]:
        for image, faces in _frames(split, roll):
            truth.append(faces)
            yield image

    write_mp4(path, frames(), FPS)
    meta = {"name": path.stem, "split": split, "fps": FPS, "frames": len(truth), "width": WIDTH, "height": HEIGHT, "gray": False,
            "faceless": False, "faces": truth, "ignore": [[] for _ in truth]}
    path.with_suffix(".json").write_text(json.dumps(meta, separators=(",", ":")))
    return path


@dataclass(frozen=True)
class Study:
    """One split's offline rows: where agreement is lost on its scene clips, and roll's cost on its 600 people."""

    loss: list[Any]  # the fidelity row of the split's scene clips
    rolls: list[list[Any]]  # one row per roll
    cost_30: tuple[int, float, float, float]  # 30°: people found at both rolls, cost in points, 90 % interval


def study(split: str) -> Study:
    """Detect, crop and classify the split's scene clips and its three roll-study clips, offline."""
    from benchmarks.markdown import num
    from benchmarks.scenes.fidelity import DETECTIONS, agreement, measure, roll_cost
    from benchmarks.scenes.generate import ensure, load_truth

    scenes = [p for p in ensure(split) if not load_truth(p)["faceless"]]
    records = measure(scenes, split, ["truth", "crop"])
    every = [r["original"] for r in records]
    loss = [f"`{split}`", len(records), sum(r["found"] for r in records), len({r["person"] for r in records if r["found"]}),
            num(sum(every) / len(every), 3), *(num(agreement(records, n), 3) for n in ("original", "truth", "crop"))]
    records = measure([clip(split, roll, DETECTIONS / split / "rollstudy") for roll in ROLLS], split, ["truth", "crop"])
    upright = [r for r in records if r["clip"] == "rollstudy_0"]
    rolls, costs = [], {}
    for roll in ROLLS:
        part = [r for r in records if r["clip"] == f"rollstudy_{roll:g}"]
        people, cost, lo, hi = costs[roll] = roll_cost(upright, part, "crop")
        rolls.append([f"`{split}`", f"{roll:g}°", sum(r["found"] for r in part), *(num(agreement(part, n), 3) for n in ("original", "truth", "crop")),
                      "—" if not roll else f"{num(cost, 1)} ({num(lo, 1)} to {num(hi, 1)}), {people} people"])
    return Study(loss, rolls, costs[30.0])


def section(studies: list[Study]) -> str:
    """The benchmark's tables: where agreement is lost on the scene clips, and roll's cost on 600 people, per split."""
    from benchmarks.markdown import table

    return "\n".join([
        "Where agreement is lost, offline (`python -m benchmarks.scenes.fidelity --split S`: every face-frame of the scene clips, "
        "the default detector on every frame, no tracking or check; each crop classified by the served default model): the "
        "original 48×48 FER face, the true FER square cut from the decoded frame with its roll undone (what rendering, blur and "
        "compression cost), and the pipeline's crop of the matched detection (what the crop's geometry costs):", "",
        table(["split", "face-frames", "found", "people found", "original, all faces", "original, found", "true square, found",
               "pipeline crop, found"], [s.loss for s in studies]), "",
        "Roll with many people (`python -m benchmarks.scenes.rollstudy --split S`): every face of the split's pool (600) pasted "
        "once per roll, the same person in the same place at the same size in each, 80-120 px in 640×480, H.264 CRF 20; "
        "offline as above. The cost is roll 0° minus the roll, on the people found at both (90 % interval, people resampled). "
        "Each split's targets above judge roll by this study's 30° row: the roll sweep's clips show about 28 people, too few "
        "to read a 2-point difference (their interval spans about 14 points):", "",
        table(["split", "roll", "found of 600", "original", "true square", "pipeline crop", "cost of the pipeline crop"],
              [row for s in studies for row in s.rolls]),
    ])


def main() -> None:
    from benchmarks.scenes.fidelity import DETECTIONS, measure, render, roll_costs

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="tune", choices=sorted(SPLITS))
    parser.add_argument("--variants", default="truth,crop,keep8")
    parser.add_argument("--base", default="crop")
    args = parser.parse_args()
    paths = [clip(args.split, roll, DETECTIONS / args.split / "rollstudy") for roll in ROLLS]
    names = args.variants.split(",")
    records = measure(paths, args.split, names)
    print(render(records, names, args.base))
    print()
    print(roll_costs(records, ["original", *names]))


if __name__ == "__main__":
    main()
