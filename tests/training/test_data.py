"""Each loader on a small file of its format, well-formed and malformed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from emostream.emotions import EMOTIONS
from emostream.training.data import (
    DataError,
    ferplus_labels,
    load_fer2013,
    load_fer2013_ferplus,
    load_ferplus_votes,
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


# --- FER+ votes -------------------------------------------------------------

FERPLUS_HEADER = "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF"


def _ferplus(tmp_path: Path, *rows: str, header: str = FERPLUS_HEADER) -> Path:
    path = tmp_path / "fer2013new.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_ferplus_votes_map_onto_our_class_order(tmp_path: Path) -> None:
    # neutral 4, happiness 0, surprise 0, sadness 1, anger 3, disgust 2, fear 0, contempt 0, unknown 0, NF 0
    votes, usages = load_ferplus_votes(_ferplus(tmp_path, "Training,fer0.png,4,0,0,1,3,2,0,0,0,0"))
    expected = {"angry": 3, "disgust": 2, "fear": 0, "happy": 0, "sad": 1, "surprise": 0, "neutral": 4}
    assert votes[0].tolist() == [expected[e] for e in EMOTIONS]
    assert usages.tolist() == ["Training"]


def test_ferplus_majority_and_soft_labels(tmp_path: Path) -> None:
    votes, _ = load_ferplus_votes(_ferplus(tmp_path, "Training,a.png,4,0,0,1,3,2,0,0,0,0", "Training,b.png,0,0,0,0,0,0,0,2,3,5"))
    majority = ferplus_labels(votes, "majority")
    assert majority[0].tolist() == np.eye(7)[EMOTIONS.index("neutral")].tolist(), "most votes: neutral"
    assert majority[1].sum() == 0, "a row with no votes for our classes has no label"
    soft = ferplus_labels(votes, "soft")
    assert soft[0].sum() == pytest.approx(1.0) and soft[0][EMOTIONS.index("angry")] == pytest.approx(0.3)
    with pytest.raises(ValueError, match="majority"):
        ferplus_labels(votes, "mode")


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("Training,a.png,4,0,0,-1,3,2,0,0,0,0", r"fer2013new\.csv:3: vote counts must not be negative"),
        ("Training,a.png,4,0,zero,1,3,2,0,0,0,0", r":3: vote counts must be numbers"),
        ("Training,a.png,4,0,nan,1,3,2,0,0,0,0", r":3: vote counts must be finite"),
        ("Training,a.png,4,0", r":3: vote counts must be numbers"),
    ],
)
def test_ferplus_malformed_row_names_the_line(tmp_path: Path, row: str, message: str) -> None:
    path = _ferplus(tmp_path, "Training,ok.png,10,0,0,0,0,0,0,0,0,0", row)
    with pytest.raises(DataError, match=message):
        load_ferplus_votes(path)


def test_ferplus_missing_column_is_an_error_on_line_1(tmp_path: Path) -> None:
    path = _ferplus(tmp_path, "Training,a.png,4,0,0,1,3,2", header="Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust")
    with pytest.raises(DataError, match=r":1: missing FER\+ column\(s\) \['fear'\]"):
        load_ferplus_votes(path)


def test_ferplus_rows_must_match_the_fer2013_rows(fer_csv_factory: FerFactory, tmp_path: Path) -> None:
    fer = fer_csv_factory(rows=[(0, PIXELS, "Training"), (1, PIXELS, "PublicTest")])
    short = _ferplus(tmp_path, "Training,a.png,10,0,0,0,0,0,0,0,0,0")
    with pytest.raises(DataError, match="1 rows, but"):
        load_fer2013_ferplus(fer, short, ("Training",), "majority")
    swapped = _ferplus(tmp_path, "Training,a.png,10,0,0,0,0,0,0,0,0,0", "Training,b.png,10,0,0,0,0,0,0,0,0,0")
    with pytest.raises(DataError, match=r":3: Usage differs"):
        load_fer2013_ferplus(fer, swapped, ("Training",), "majority")


def test_fer2013_with_ferplus_labels_drops_rows_without_a_label(fer_csv_factory: FerFactory, tmp_path: Path) -> None:
    fer = fer_csv_factory(rows=[(0, PIXELS, "Training"), (1, PIXELS, "Training"), (2, PIXELS, "PublicTest")])
    votes = _ferplus(
        tmp_path,
        "Training,a.png,0,9,0,0,1,0,0,0,0,0",  # happy by FER+, angry by FER2013
        "Training,,0,0,0,0,0,0,0,0,0,10",  # not a face: no label
        "PublicTest,c.png,0,0,0,0,0,0,10,0,0,0",
    )
    data = load_fer2013_ferplus(fer, votes, ("Training",), "majority")
    assert data.hard_labels.tolist() == [EMOTIONS.index("happy")], "FER+ relabels, and not-a-face rows drop"


def test_real_ferplus_slice_aligns_with_fer2013(real_fer_slice: FerSlice) -> None:
    if real_fer_slice.ferplus is None:
        pytest.skip("fer2013new.csv is not in the shared FER2013 folder")
    data = load_fer2013_ferplus(real_fer_slice.csv, real_fer_slice.ferplus, ("Training",), "soft")
    assert 0 < len(data) <= TRAIN_ROWS
    assert np.allclose(data.labels.sum(axis=1), 1.0), "soft labels are vote shares"


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
