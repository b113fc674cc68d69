"""What the classifier sees, offline: every scene face cropped several ways and classified with the served model.

For each face-frame of a split's clips (ground truth: the pasted FER face, its
square and roll) this detects the frame as ingest does (default detector),
matches the detections to the faces as the benchmark does, and classifies,
with the default model as the classifier serves it:

- ``original``: the 48x48 FER face itself, before it was pasted (the ceiling:
  what the model says when the front end loses nothing);
- ``truth``: the FER square cut from the decoded frame with the true roll
  undone (what rendering, scaling and compression alone cost);
- ``crop``: the pipeline's crop of the matched detection (:func:`crop_detection`,
  default configuration), and variants of it (``--variants``).

It prints, per clip and over the split, how many faces were found and the FER+
agreement of each crop on the faces found, so the loss splits into detection
(faces not found), pixels (``original`` against ``truth``) and geometry
(``truth`` against ``crop``). Detections are cached per clip under
``build/fidelity/`` (keyed by the detector's settings).

    python -m benchmarks.scenes.fidelity --split tune [--only roll_0,roll_30] [--variants crop,box15]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import ROOT
from benchmarks.scenes.cropvariants import Sample, spec, variants
from benchmarks.scenes.detect import decode
from benchmarks.scenes.evaluate import Report, match_frame, paired_cost
from benchmarks.scenes.faces import SPLITS, face_pool
from benchmarks.scenes.generate import CACHE, ensure, load_truth
from emostream.detector.base import Detection

DETECTIONS = ROOT / "build" / "fidelity"



def detections(path: Path, split: str) -> list[list[Detection]]:
    """The default detector's detections on every frame of a clip, cached as JSON (keyed by the detector's settings)."""
    from emostream.config import load_config
    from emostream.detector import make_detector

    config = load_config(None).detector
    key = hashlib.sha256(config.model_dump_json().encode()).hexdigest()[:10]
    cache = DETECTIONS / split / f"{path.stem}-{key}.json"
    if cache.is_file():
        rows = json.loads(cache.read_text())
        return [[Detection(d[0], d[1], d[2], d[3], d[4], tuple(map(tuple, d[5])) if d[5] else None) for d in frame] for frame in rows]
    out: list[list[Detection]] = []
    with make_detector(config) as detector:
        for rgb in decode(path):
            out.append(detector.detect_native(rgb if detector.colour == "rgb" else np.ascontiguousarray(rgb[:, :, ::-1])))
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps([[[d.x, d.y, d.w, d.h, d.score, d.keypoints] for d in frame] for frame in out]))
    return out


def samples(path: Path, split: str) -> list[Sample]:
    meta = load_truth(path)
    found = detections(path, split)
    out = []
    seen: dict[str, list[Detection]] = {}  # person -> their matched detections so far (a track that never errs)
    for f, truth in enumerate(meta["faces"]):
        dets = found[f] if f < len(found) else []
        pairs = dict(match_frame(truth, [Report((d.x, d.y, d.w, d.h)) for d in dets]))
        for i, face in enumerate(truth):
            history = seen.setdefault(face["id"], [])
            out.append(Sample(path.stem, f, face, dets[pairs[i]] if i in pairs else None, tuple(history[-8:])))
            if i in pairs:
                history.append(dets[pairs[i]])
    return out


def classify(runtime: Any, crops: list[np.ndarray]) -> np.ndarray:
    if not crops:
        return np.zeros((0,), np.int64)
    batch = np.stack(crops)[..., None].astype(np.uint8)
    labels: np.ndarray = np.argmax(runtime.predict(batch), axis=1)
    return labels


def measure(paths: list[Path], split: str, names: list[str]) -> list[dict[str, Any]]:
    """One record per face-frame: clip, person, found, and per crop whether its label is the FER+ majority (absent: no crop)."""
    from emostream.classifier.runtime import load_runtime
    from emostream.infra.emotions import EMOTIONS
    from emostream.infra.modelcard import load_card

    runtime = load_runtime(load_card(None), "auto", 64)
    pool = face_pool(split, CACHE)
    by_row = {int(r): i for i, r in enumerate(pool.rows)}
    table = variants()
    chosen = {k: table[k] if k in table else spec(k) for k in names}
    records: list[dict[str, Any]] = []
    for path in paths:
        todo = samples(path, split)
        frames = decode(path)
        rows = [{"clip": path.stem, "person": s.face["row"], "found": s.detection is not None} for s in todo]
        made: dict[str, list[tuple[int, np.ndarray]]] = {"original": [(k, pool.images[by_row[s.face["row"]]]) for k, s in enumerate(todo)]}
        for name, fn in chosen.items():
            made[name] = [(k, crop) for k, s in enumerate(todo) if (crop := fn(frames[s.frame], s)) is not None]
        for name, pairs in made.items():
            for (k, _), label in zip(pairs, classify(runtime, [p for _, p in pairs]), strict=True):
                rows[k][name] = EMOTIONS[int(label)] == todo[k].face["label"]
        records += rows
    return records


def agreement(records: list[dict[str, Any]], name: str) -> float | None:
    """FER+ agreement of ``name``'s crops on the faces found."""
    hits = [r[name] for r in records if r["found"] and name in r]
    return sum(hits) / len(hits) if hits else None


def bootstrap(records: list[dict[str, Any]], name: str, base: str, rounds: int = 2000) -> tuple[float, float, float]:
    """``name`` minus ``base`` in points on the faces found by both, and its 90 % interval, people resampled (seeded)."""
    people: dict[int, list[float]] = {}
    for r in records:
        if r["found"] and name in r and base in r:
            people.setdefault(r["person"], []).append(float(r[name]) - float(r[base]))
    sums = np.array([sum(v) for v in people.values()])
    counts = np.array([len(v) for v in people.values()])
    if not len(sums):
        return math.nan, math.nan, math.nan
    rng = np.random.default_rng(23)
    draws = rng.integers(0, len(sums), (rounds, len(sums)))
    diffs = sums[draws].sum(1) / counts[draws].sum(1) * 100
    return float(sums.sum() / counts.sum() * 100), float(np.percentile(diffs, 5)), float(np.percentile(diffs, 95))


def _per_person(records: list[dict[str, Any]], name: str) -> dict[int, tuple[float, int]]:
    """Person -> (agreeing crops, crops) among the faces found."""
    out: dict[int, tuple[float, int]] = {}
    for r in records:
        if r["found"] and name in r:
            hits, n = out.get(r["person"], (0.0, 0))
            out[r["person"]] = (hits + float(r[name]), n + 1)
    return out


def roll_cost(upright: list[dict[str, Any]], rolled: list[dict[str, Any]], name: str) -> tuple[int, float, float, float]:
    """(people, cost in points, 90 % interval): agreement upright minus rolled, on the people found at both rolls."""
    return paired_cost(_per_person(upright, name), _per_person(rolled, name))


def roll_costs(records: list[dict[str, Any]], names: list[str]) -> str:
    """For clips named ``<x>_0`` / ``<x>_15`` / ``<x>_30``: each crop's roll cost, all faces found and the same people only."""
    clips = {r["clip"] for r in records}
    lines = ["| roll | crop | found (upright / rolled) | cost, all faces found | people at both | cost, same people (90 % interval) |",
             "|---|---|---|---|---|---|"]
    for upright in sorted(c for c in clips if c.endswith("_0")):
        base = [r for r in records if r["clip"] == upright]
        for degrees in ("15", "30"):
            rolled = [r for r in records if r["clip"] == upright[:-1] + degrees]
            if not rolled:
                continue
            found = f"{sum(r['found'] for r in base)} / {sum(r['found'] for r in rolled)} of {len(base)}"
            for name in names:
                a, b = agreement(base, name), agreement(rolled, name)
                people, cost, lo, hi = roll_cost(base, rolled, name)
                whole = f"{(a - b) * 100:.1f}" if a is not None and b is not None else "—"
                lines.append(f"| {upright[:-1]}{degrees} | `{name}` | {found} | {whole} | {people} | {cost:.1f} ({lo:.1f} to {hi:.1f}) |")
    return "\n".join(lines)


def render(records: list[dict[str, Any]], names: list[str], base: str) -> str:
    cols = ["original", *names]
    lines = ["| clip | faces | found | people found | " + " | ".join(cols) + " |", "|---|---|---|---|" + "---|" * len(cols)]
    clips = list(dict.fromkeys(r["clip"] for r in records))
    for clip in [*clips, None]:
        part = [r for r in records if clip is None or r["clip"] == clip]
        people = len({r["person"] for r in part if r["found"]})
        cells = [f"{a:.3f}" if (a := agreement(part, n)) is not None else "—" for n in cols]
        lines.append(f"| {clip or '**all**'} | {len(part)} | {sum(r['found'] for r in part)} | {people} | " + " | ".join(cells) + " |")
    lines += ["", f"against `{base}` on the faces found (points; 90 % interval, people resampled):"]
    for n in cols:
        if n != base:
            d, lo, hi = bootstrap(records, n, base)
            lines.append(f"- `{n}`: {d:+.1f} ({lo:+.1f} to {hi:+.1f})")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="tune", choices=sorted(SPLITS))
    parser.add_argument("--only", help="comma-separated clip names")
    parser.add_argument("--variants", default="truth,crop,box15,keep8")
    parser.add_argument("--base", default="crop", help="the crop the others are compared with")
    args = parser.parse_args()
    paths = [p for p in ensure(args.split) if not load_truth(p)["faceless"]]
    if args.only:
        paths = [p for p in paths if p.stem in set(args.only.split(","))]
    names = args.variants.split(",")
    records = measure(paths, args.split, names)
    print(render(records, names, args.base))
    if any(r["clip"] == "roll_0" for r in records):
        print()
        print(roll_costs(records, ["original", *names]))


if __name__ == "__main__":
    main()
