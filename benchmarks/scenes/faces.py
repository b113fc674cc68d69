"""FER2013 faces with their FER+ majority label, one pool per split, cached as a small ``.npz``.

``tune`` draws from FER2013 Training, ``test`` from PublicTest, ``fresh`` from
the PublicTest faces ``test`` did not draw (a split no setting was read off:
issue 23's thresholds were chosen on ``tune``, and some were found by looking
at ``test``'s misses, so ``fresh`` is the figure nothing was fitted to);
PrivateTest is never read (it is not in the shared folder either). Labels follow the project's
evaluation rule (:func:`emostream.training.ferplus.majority_labels`: a single
largest vote that is one of our seven classes), so the benchmark's agreement
figure means what docs/MODEL.md's does. Parsing the 300 MB CSV takes a while,
so the chosen faces are kept under the cache folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks import ROOT
from emostream.infra.emotions import EMOTIONS

#: split -> (FER2013 Usage, seed of everything random in that split); the seeds differ per split.
SPLITS: dict[str, tuple[str, int]] = {"tune": ("Training", 23_001), "test": ("PublicTest", 23_002), "fresh": ("PublicTest", 23_003)}
#: split -> the split whose faces it leaves out (same Usage: no person in both).
DISJOINT: dict[str, str] = {"fresh": "test"}
POOL_SIZE = 600


def fer_dir() -> Path:
    """``EMOSTREAM_FER_DIR``, else the shared folder beside the worktree (``../shared/data/fer2013``)."""
    return Path(os.environ.get("EMOSTREAM_FER_DIR") or ROOT.parent / "shared" / "data" / "fer2013")


@dataclass(frozen=True)
class FacePool:
    images: np.ndarray  # (N, 48, 48) uint8
    rows: np.ndarray  # (N,) FER2013 row index: the person id
    labels: np.ndarray  # (N,) index into EMOTIONS

    def label(self, index: int) -> str:
        return EMOTIONS[int(self.labels[index])]


def face_pool(split: str, cache: Path) -> FacePool:
    """:data:`POOL_SIZE` random majority-labelled faces of the split (cached under ``cache``)."""
    path = cache / f"faces-{split}.npz"
    if not path.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        images, rows, labels = _choose(split)
        # Written whole under a name of this process's own, then renamed: processes that build the
        # pool at once (the suite's workers) never read each other's half-written file.
        partial = path.with_name(f".{path.name}.{os.getpid()}.npz")
        np.savez_compressed(partial, images=images, rows=rows, labels=labels)
        os.replace(partial, path)
    with np.load(path) as data:
        return FacePool(data["images"], data["rows"], data["labels"])


def _choose(split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from emostream.training.data import load_fer2013_with_rows
    from emostream.training.ferplus import majority_labels, read_votes

    folder = fer_dir()
    images, _, usages = load_fer2013_with_rows(folder / "fer2013.csv.gz")
    votes, vote_usages = read_votes(folder / "fer2013new.csv")
    if len(votes) != len(images) or not np.array_equal(usages, vote_usages):
        raise ValueError(f"{folder}: FER2013 and FER+ rows do not match")
    onehot, mask = majority_labels(votes)
    chosen = _draw(mask, usages, split)
    return images[chosen, :, :, 0], chosen.astype(np.int64), np.argmax(onehot[chosen], axis=1).astype(np.int64)


def _draw(usable: np.ndarray, usages: np.ndarray, split: str) -> np.ndarray:
    """The split's pool: :data:`POOL_SIZE` sorted rows of its Usage, less the pool of the split it must not share a person with."""
    usage, seed = SPLITS[split]
    candidates = np.flatnonzero(usable & (usages == usage))
    other = DISJOINT.get(split)
    if other is not None:
        candidates = np.setdiff1d(candidates, _draw(usable, usages, other))
    return np.sort(np.random.default_rng(seed).choice(candidates, POOL_SIZE, replace=False))


def original_labels(split: str, cache: Path) -> dict[int, str]:
    """FER row -> the served default model's label on the pool's original 48x48 face (as the classifier serves it).

    The scene benchmark sets this beside the end-to-end agreement: the agreement a front end that lost nothing
    (no detection, crop, resampling or compression) would reach on the same faces.
    """
    from emostream.classifier.runtime import load_runtime
    from emostream.infra.modelcard import load_card

    pool = face_pool(split, cache)
    runtime = load_runtime(load_card(None), "auto", 64)
    try:
        probs = runtime.predict(np.ascontiguousarray(pool.images[..., None]))
    finally:
        runtime.close()
    return {int(row): EMOTIONS[int(k)] for row, k in zip(pool.rows, np.argmax(probs, axis=1), strict=True)}
