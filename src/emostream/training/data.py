"""Loaders for the datasets emostream trains on.

Every loader returns a :class:`Dataset`: uint8 images of shape (N, H, W, 1) and
label distributions of shape (N, 7) in :data:`emostream.infra.emotions.EMOTIONS` order.
Hard labels are one-hot rows; FER+ votes may give soft rows
(:mod:`emostream.training.ferplus`, :mod:`emostream.training.table`). A malformed row is
an error that names the file and line, never a silent skip.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emostream.infra.emotions import EMOTIONS
from emostream.training.textio import open_text

FER_SIZE = 48
FER_USAGES = ("Training", "PublicTest", "PrivateTest")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


class DataError(ValueError):
    """A dataset file is malformed; the message names the file and line."""


@dataclass(frozen=True)
class Dataset:
    images: np.ndarray  # uint8, (N, H, W, 1)
    labels: np.ndarray  # float32, (N, 7), rows sum to 1

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def hard_labels(self) -> np.ndarray:
        return np.asarray(np.argmax(self.labels, axis=1))

    def subset(self, index: np.ndarray | slice) -> Dataset:
        return Dataset(self.images[index], self.labels[index])

    def resized(self, size: int) -> Dataset:
        """The same samples with images of ``size`` x ``size`` (no copy when they already are)."""
        return Dataset(resize_images(self.images, size), self.labels)


def resize_images(images: np.ndarray, size: int) -> np.ndarray:
    """Resize uint8 images (N, h, w, C) to (N, size, size, C).

    FER2013 crops are 48x48 but models may want another size (transfer
    backbones need at least 32..75 pixels). INTER_AREA when shrinking avoids
    aliasing; INTER_LINEAR when enlarging, as published FER2013 baselines do.
    """
    if images.shape[1:3] == (size, size):
        return images
    import cv2

    interpolation = cv2.INTER_AREA if size < images.shape[1] else cv2.INTER_LINEAR
    out = np.empty((images.shape[0], size, size, images.shape[3]), dtype=images.dtype)
    for i, image in enumerate(images):
        out[i] = cv2.resize(image, (size, size), interpolation=interpolation).reshape(size, size, -1)
    return out


def _fer_rows(path: Path) -> Iterator[tuple[int, int, np.ndarray, str]]:
    """Yield (line number, emotion code, pixels, usage) for each data row."""
    with open_text(path) as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or [h.strip() for h in header[:3]] != ["emotion", "pixels", "Usage"]:
            raise DataError(f"{path}:1: expected the header 'emotion,pixels,Usage', got {header!r}")
        for line, row in enumerate(reader, start=2):
            if len(row) != 3:
                raise DataError(f"{path}:{line}: expected 3 fields, got {len(row)}")
            code_text, pixel_text, usage = row
            try:
                code = int(code_text)
            except ValueError:
                raise DataError(f"{path}:{line}: emotion {code_text!r} is not an integer") from None
            if not 0 <= code < len(EMOTIONS):
                raise DataError(f"{path}:{line}: emotion {code} is outside 0..{len(EMOTIONS) - 1}")
            if usage not in FER_USAGES:
                raise DataError(f"{path}:{line}: unknown Usage {usage!r}")
            try:
                values = np.array(pixel_text.split(), dtype=np.int32)
            except ValueError:
                raise DataError(f"{path}:{line}: pixels must be integers") from None
            if values.size != FER_SIZE * FER_SIZE:
                raise DataError(f"{path}:{line}: expected {FER_SIZE * FER_SIZE} pixels, got {values.size}")
            if values.min() < 0 or values.max() > 255:
                raise DataError(f"{path}:{line}: pixel values must lie in 0..255")
            yield line, code, values.astype(np.uint8).reshape(FER_SIZE, FER_SIZE, 1), usage


def load_fer2013(path: Path, usages: tuple[str, ...] = ("Training",)) -> Dataset:
    """Load rows of the Kaggle ``fer2013.csv`` (plain or ``.gz``) whose Usage is in ``usages``."""
    unknown = set(usages) - set(FER_USAGES)
    if unknown:
        raise ValueError(f"unknown usage(s) {sorted(unknown)}; choose from {FER_USAGES}")
    images, codes = [], []
    for _, code, pixels, usage in _fer_rows(Path(path)):
        if usage in usages:
            images.append(pixels)
            codes.append(code)
    if not images:
        raise DataError(f"{path}: no rows with Usage in {list(usages)}")
    labels = np.eye(len(EMOTIONS), dtype=np.float32)[np.array(codes)]
    return Dataset(np.stack(images), labels)


def load_fer2013_with_rows(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All rows as (images, emotion codes, usages); row i matches row i of the FER+ file."""
    images, codes, usages = [], [], []
    for _, code, pixels, usage in _fer_rows(Path(path)):
        images.append(pixels)
        codes.append(code)
        usages.append(usage)
    return np.stack(images), np.array(codes), np.array(usages)


def load_image_folder(root: Path, size: int = FER_SIZE) -> Dataset:
    """Load ``root/<class>/*.png|jpg``; class folder names must be our emotion names."""
    import cv2

    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder")
    unknown = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name.lower() not in EMOTIONS)
    if unknown:
        raise DataError(f"{root}: class folder(s) {unknown} are not among {list(EMOTIONS)}")
    images, codes = [], []
    for code, emotion in enumerate(EMOTIONS):
        folder = next((p for p in root.iterdir() if p.is_dir() and p.name.lower() == emotion), None)
        if folder is None:
            continue
        for file in sorted(folder.iterdir()):
            if file.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            image = cv2.imread(str(file), cv2.IMREAD_GRAYSCALE)
            if image is None:
                raise DataError(f"{file}: not a readable image")
            if image.shape != (size, size):
                image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
            images.append(image[..., None])
            codes.append(code)
    if not images:
        raise DataError(f"{root}: no images found in any class folder")
    return Dataset(np.stack(images), np.eye(len(EMOTIONS), dtype=np.float32)[np.array(codes)])
