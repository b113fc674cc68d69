"""Generate a split's clips and ground truth into the cache folder, once.

``build/scenes/<split>/`` (git-ignored) holds ``<clip>.mp4`` and ``<clip>.json``
for every condition and faceless clip, and ``manifest.json`` naming the
generator version. A missing or stale manifest regenerates the split; each
clip's randomness comes from the split's seed and the clip's name, so one clip
can be remade alone and comes out the same. Run ``python -m benchmarks.scenes
--generate`` to make them without measuring.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import ROOT
from benchmarks.scenes import faceless, scene
from benchmarks.scenes.conditions import CONDITIONS, FACELESS, FACELESS_FPS, FPS, Condition
from benchmarks.scenes.encode import write_mp4
from benchmarks.scenes.faces import SPLITS, face_pool

VERSION = 4  # bump when what a seed generates changes
CACHE = ROOT / "build" / "scenes"


def rng_for(split: str, clip: str) -> np.random.Generator:
    """The clip's own generator: the split's seed and a checksum of the clip's name."""
    return np.random.default_rng([SPLITS[split][1], zlib.crc32(clip.encode())])


def write_condition(cond: Condition, split: str, folder: Path, cache: Path = CACHE) -> Path:
    """One condition's clip and ground truth; returns the ``.mp4`` path."""
    folder.mkdir(parents=True, exist_ok=True)
    pool = face_pool(split, cache)
    truth: list[dict[str, Any]] = []

    def frames() -> Any:
        for image, faces in scene.render(cond, pool, rng_for(split, cond.seed_name)):
            truth.append(faces)
            yield image

    path = folder / f"{cond.name}.mp4"
    write_mp4(path, frames(), FPS, cond.crf)
    meta = {"name": cond.name, "split": split, "fps": FPS, "frames": len(truth), "width": cond.width, "height": cond.height,
            "gray": cond.gray, "faceless": False, "condition": cond.__dict__,
            "faces": [t["faces"] for t in truth], "ignore": [t["ignore"] for t in truth]}
    path.with_suffix(".json").write_text(json.dumps(meta, separators=(",", ":")))
    return path


def write_faceless(name: str, kind: str, width: int, height: int, seconds: float, split: str, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    count = round(seconds * FACELESS_FPS)
    path = folder / f"{name}.mp4"
    write_mp4(path, faceless.frames(kind, width, height, count, FACELESS_FPS, rng_for(split, name)), FACELESS_FPS)
    meta = {"name": name, "split": split, "fps": FACELESS_FPS, "frames": count, "width": width, "height": height,
            "gray": False, "faceless": True, "condition": {"kind": kind},
            "faces": [[] for _ in range(count)], "ignore": [[] for _ in range(count)]}
    path.with_suffix(".json").write_text(json.dumps(meta, separators=(",", ":")))
    return path


def ensure(split: str, cache: Path = CACHE) -> list[Path]:
    """Every clip of the split (generated when missing or stale), conditions first, then faceless ones."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose from {sorted(SPLITS)}")
    folder = cache / split
    names = [c.name for c in CONDITIONS] + [f[0] for f in FACELESS]
    manifest = folder / "manifest.json"
    expected = {"version": VERSION, "clips": names}
    paths = [folder / f"{name}.mp4" for name in names]
    if manifest.is_file() and json.loads(manifest.read_text()) == expected and all(p.is_file() for p in paths):
        return paths
    folder.mkdir(parents=True, exist_ok=True)
    for cond in CONDITIONS:
        write_condition(cond, split, folder, cache)
    for name, kind, width, height, seconds in FACELESS:
        write_faceless(name, kind, width, height, seconds, split, folder)
    manifest.write_text(json.dumps(expected))
    return paths


def load_truth(path: Path) -> dict[str, Any]:
    """The ground truth beside a clip."""
    data: dict[str, Any] = json.loads(path.with_suffix(".json").read_text())
    return data
