"""Each loader on a small file of its format, well-formed and malformed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from emostream.infra.emotions import EMOTIONS
from emostream.training.data import (
    DataError,
    load_fer2013,
    load_image_folder,
    resize_images,
)

from .conftest import TEST_ROWS, TRAIN_ROWS, FerSlice

FerFactory = Callable[..., Path]
PIXELS = np.arange(48 * 48) % 256


# --- fer2013.csv ------------------------------------------------------------


@pytest.mark.parametrize("name", ["fer.csv", "fer.csv.gz"])
def test_fer2013_loads_plain_and_gzip_and_filters_by_usage(fer_csv_factory: FerFactory, name: str) -> None:
    path = fer_csv_factory(name, rows=[(3, PIXELS, "Training"), (0, 255 - PIXELS, "PublicTest"), (6, PIXELS, "Training")])
    train = load_fer2013(path, ("Training",))
    assert len(train) == 2 and train.images.shape == (2, 48, 48, 1) and train.images.dtype == np.uint8
    assert train.hard_labels.tolist() == [3, 6], "labels must keep the emotion codes in file order"
    assert np.array_equal(train.images[0, :, :, 0], PIXELS.reshape(48, 48)), "pixels are stored row by row"
    assert train.labels.sum(axis=1).tolist() == [1.0, 1.0], "hard labels are one-hot rows"
    test = load_fer2013(path, ("PublicTest",))
    assert test.hard_labels.tolist() == [0]


def test_fer2013_tolerates_a_byte_order_mark(fer_csv_factory: FerFactory) -> None:
    text = "\ufeffemotion,pixels,Usage\n3," + " ".join(map(str, PIXELS)) + ",Training\n"
    assert len(load_fer2013(fer_csv_factory(text=text))) == 1


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ((3, PIXELS[:-1], "Training"), r"fer\.csv:3: expected 2304 pixels, got 2303"),
        ((7, PIXELS, "Training"), r":3: emotion 7 is outside 0..6"),
        (("happy", PIXELS, "Training"), r":3: emotion 'happy' is not an integer"),
        ((3, PIXELS, "Validation"), r":3: unknown Usage 'Validation'"),
        ((3, " ".join(["256"] * 2304), "Training"), r":3: pixel values must lie in 0..255"),
        ((3, "1 2 x" + " 0" * 2301, "Training"), r":3: pixels must be integers"),
    ],
)
def test_fer2013_malformed_row_is_an_error_naming_the_line(fer_csv_factory: FerFactory, row: Any, message: str) -> None:
    path = fer_csv_factory(rows=[(0, PIXELS, "Training"), row])
    with pytest.raises(DataError, match=message):
        load_fer2013(path)


def test_fer2013_row_with_missing_fields_names_the_line(fer_csv_factory: FerFactory) -> None:
    path = fer_csv_factory(text="emotion,pixels,Usage\n3," + " ".join(map(str, PIXELS)) + "\n")
    with pytest.raises(DataError, match=r":2: expected 3 fields, got 2"):
        load_fer2013(path)


@pytest.mark.parametrize("header", ["label,pixels,Usage", "pixels,emotion,Usage", ""])
def test_fer2013_bad_header_is_an_error_on_line_1(fer_csv_factory: FerFactory, header: str) -> None:
    path = fer_csv_factory(text=header + "\n")
    with pytest.raises(DataError, match=r":1: expected the header 'emotion,pixels,Usage'"):
        load_fer2013(path)


def test_fer2013_without_rows_of_the_usage_is_an_error(fer_csv_factory: FerFactory) -> None:
    path = fer_csv_factory(rows=[(0, PIXELS, "Training")])
    with pytest.raises(DataError, match="no rows with Usage"):
        load_fer2013(path, ("PublicTest",))
    with pytest.raises(ValueError, match="unknown usage"):
        load_fer2013(path, ("Test",))


def test_real_fer2013_slice_loads_with_its_published_shape(real_fer_slice: FerSlice) -> None:
    train = load_fer2013(real_fer_slice.csv, ("Training",))
    test = load_fer2013(real_fer_slice.csv, ("PublicTest",))
    assert (len(train), len(test)) == (TRAIN_ROWS, TEST_ROWS)
    assert train.images.shape[1:] == (48, 48, 1)
    assert train.hard_labels[:3].tolist() == [0, 0, 2], "the first FER2013 rows are angry, angry, fear"


# --- image folders ----------------------------------------------------------


def _image_folder(root: Path, counts: dict[str, int], size: int = 48) -> Path:
    import cv2

    for name, count in counts.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            image = np.full((size, size), 40 * i + 10, np.uint8)
            assert cv2.imwrite(str(root / name / f"{i}.png"), image)
    return root


def test_image_folder_loads_classes_in_our_order_and_resizes(tmp_path: Path) -> None:
    root = _image_folder(tmp_path / "train", {"sad": 2, "Happy": 1}, size=64)
    (root / "sad" / "notes.txt").write_text("not part of the data set")
    data = load_image_folder(root)
    assert data.images.shape == (3, 48, 48, 1), "64x64 images are resized to 48x48"
    assert data.hard_labels.tolist() == [EMOTIONS.index("happy"), EMOTIONS.index("sad"), EMOTIONS.index("sad")]


def test_image_folder_unreadable_image_names_the_file(tmp_path: Path) -> None:
    root = _image_folder(tmp_path / "train", {"fear": 1})
    (root / "fear" / "broken.png").write_bytes(b"this is not a PNG")
    with pytest.raises(DataError, match=r"broken\.png: not a readable image"):
        load_image_folder(root)


def test_image_folder_unknown_class_folder_is_an_error(tmp_path: Path) -> None:
    root = _image_folder(tmp_path / "train", {"fear": 1, "contempt": 1})
    with pytest.raises(DataError, match=r"\['contempt'\] are not among"):
        load_image_folder(root)


def test_image_folder_without_images_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "train" / "fear").mkdir(parents=True)
    with pytest.raises(DataError, match="no images"):
        load_image_folder(tmp_path / "train")
    with pytest.raises(DataError, match="not a folder"):
        load_image_folder(tmp_path / "missing")


def test_resize_images_keeps_batch_and_channels() -> None:
    images = np.random.default_rng(0).integers(0, 256, (3, 48, 48, 1), dtype=np.uint8)
    assert resize_images(images, 48) is images, "no copy when the size already fits"
    assert resize_images(images, 32).shape == (3, 32, 32, 1)
    assert resize_images(images, 64).shape == (3, 64, 64, 1)
