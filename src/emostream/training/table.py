"""FER2013 rows with their FER+ votes, from the Kaggle CSV or from a compact ``.npz``.

The CSV is 84 MB of text that takes tens of seconds to parse; the compact
file holds the same rows as uint8 arrays (48x48 faces, FER2013 labels, usage,
FER+ votes), LZMA-compressed inside an ordinary ``.npz`` so that ``numpy.load``
reads it with nothing else installed. It is what travels to a GPU machine
(which may lack TensorFlow, OpenCV and pandas) and it loads in a couple of
seconds. ``emostream pack-data`` (:mod:`emostream.training.pack`) writes it; every training and evaluation
command reads either form.

PrivateTest rows are left out of the compact file by default: nothing in
emostream selects or reports on them, and leaving them out keeps the file small.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emostream.infra.emotions import EMOTIONS
from emostream.training.data import FER_USAGES, DataError, Dataset, load_fer2013_with_rows
from emostream.training.ferplus import VOTE_COLUMNS, majority_labels, read_votes, soft_targets

NPZ_FORMAT = "emostream-fer-1"


@dataclass(frozen=True)
class FerTable:
    """Every row of FER2013 that was read, with FER+ votes when they were given."""

    images: np.ndarray  # uint8 (N, 48, 48, 1)
    codes: np.ndarray  # int (N,): FER2013's own labels, EMOTIONS order
    usages: np.ndarray  # str (N,): Training, PublicTest or PrivateTest
    votes: np.ndarray | None  # float32 (N, 10) in VOTE_COLUMNS order, or None

    def rows(self, usage: str) -> np.ndarray:
        if usage not in FER_USAGES:
            raise ValueError(f"unknown usage {usage!r}; choose from {FER_USAGES}")
        index = np.flatnonzero(self.usages == usage)
        if not index.size:
            raise DataError(f"no rows with Usage {usage!r} in this data")
        return index


def is_npz(path: Path) -> bool:
    return Path(path).suffix == ".npz"


def load_table(data: Path, ferplus: Path | None = None) -> FerTable:
    """Read ``data`` (``fer2013.csv[.gz]`` or a packed ``.npz``) and, for a CSV, the FER+ votes beside it."""
    data = Path(data)
    if is_npz(data):
        return _load_npz(data)
    images, codes, usages = load_fer2013_with_rows(data)
    votes = None
    if ferplus is not None:
        votes, plus_usages = read_votes(ferplus)
        if len(votes) != len(images):
            raise DataError(f"{ferplus}: {len(votes)} rows, but {data} has {len(images)}")
        mismatch = np.flatnonzero(plus_usages != usages)
        if mismatch.size:
            raise DataError(f"{ferplus}:{mismatch[0] + 2}: Usage differs from {data}")
    return FerTable(images, codes, usages, votes)


def _load_npz(path: Path) -> FerTable:
    try:
        with np.load(path, allow_pickle=False) as npz:
            if "format" not in npz or str(npz["format"]) != NPZ_FORMAT:
                raise DataError(f"{path}: not an emostream compact data file (expected format {NPZ_FORMAT})")
            images = npz["images"]
            votes = npz["votes"].astype(np.float32) if "votes" in npz else None
            usages = np.asarray(FER_USAGES)[npz["usage"]]
            return FerTable(images[..., None], npz["emotion"].astype(np.int64), usages, votes)
    except (zipfile.BadZipFile, ValueError, KeyError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"{path}: unreadable compact data file ({exc})") from None


def write_npz(table: FerTable, path: Path, usages: tuple[str, ...] = ("Training", "PublicTest")) -> Path:
    """Write the rows of ``usages`` as a compact ``.npz`` (LZMA inside; ``numpy.load`` reads it)."""
    keep = np.isin(table.usages, usages)
    arrays: dict[str, np.ndarray] = {
        "format": np.array(NPZ_FORMAT),
        "images": np.ascontiguousarray(table.images[keep, :, :, 0]),
        "emotion": table.codes[keep].astype(np.uint8),
        "usage": np.array([FER_USAGES.index(u) for u in table.usages[keep]], dtype=np.uint8),
        "vote_columns": np.array(VOTE_COLUMNS),
    }
    if table.votes is not None:
        arrays["votes"] = table.votes[keep].astype(np.uint8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    # numpy's savez_compressed uses deflate; LZMA makes the faces a good deal smaller.
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_LZMA) as archive:
        for name, array in arrays.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as handle:
                np.lib.format.write_array(handle, array, allow_pickle=False)
    tmp.replace(path)
    return path


LABEL_SOURCES = ("fer2013", "ferplus-majority", "ferplus-soft")


def labelled(table: FerTable, usage: str, labels: str) -> Dataset:
    """The rows of ``usage`` with labels from ``labels``; FER+ rows without a usable label are left out.

    ``fer2013``: FER2013's own label, one-hot. ``ferplus-majority``: the
    evaluation rule of :func:`ferplus.majority_mask`. ``ferplus-soft``: the
    vote shares of :func:`ferplus.soft_targets`.
    """
    return labelled_rows(table, table.rows(usage), labels)


def labelled_rows(table: FerTable, index: np.ndarray, labels: str) -> Dataset:
    """The rows at ``index`` with labels from ``labels`` (see :func:`labelled`); rows without a usable label are left out."""
    if labels == "fer2013":
        onehot = np.eye(len(EMOTIONS), dtype=np.float32)[table.codes[index]]
        return Dataset(table.images[index], onehot)
    if labels not in LABEL_SOURCES:
        raise ValueError(f"unknown label source {labels!r}; choose from {LABEL_SOURCES}")
    if table.votes is None:
        raise ValueError(f"--labels {labels} needs FER+ votes: pass --ferplus fer2013new.csv or a packed .npz with votes")
    votes = table.votes[index]
    targets, keep = majority_labels(votes) if labels == "ferplus-majority" else soft_targets(votes)
    return Dataset(table.images[index][keep], targets[keep])
