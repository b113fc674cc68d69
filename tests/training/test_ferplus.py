"""FER+ votes: reading them, the evaluation rule, soft targets, and the compact .npz that carries them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from emostream.infra.emotions import EMOTIONS
from emostream.training.data import DataError
from emostream.training.ferplus import FerPlusError, majority_labels, majority_mask, read_votes, soft_targets
from emostream.training.table import labelled, load_table, write_npz

from .conftest import TEST_ROWS, FerSlice

FerFactory = Callable[..., Path]
PIXELS = np.arange(48 * 48) % 256
HEADER = "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF"


def _ferplus(tmp_path: Path, *rows: str, header: str = HEADER) -> Path:
    path = tmp_path / "fer2013new.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def _votes(**counts: int) -> list[float]:
    """One vote row in our order (EMOTIONS, then contempt, unknown, NF)."""
    names = (*EMOTIONS, "contempt", "unknown", "NF")
    return [float(counts.get(n, 0)) for n in names]


def test_votes_map_onto_our_class_order_then_the_three_extra_columns(tmp_path: Path) -> None:
    votes, usages = read_votes(_ferplus(tmp_path, "Training,fer0.png,4,0,0,1,3,2,0,1,0,0"))
    assert votes[0].tolist() == _votes(neutral=4, sad=1, angry=3, disgust=2, contempt=1)
    assert usages.tolist() == ["Training"]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("Training,a.png,4,0,0,-1,3,2,0,0,0,0", r"fer2013new\.csv:3: vote counts must not be negative"),
        ("Training,a.png,4,0,zero,1,3,2,0,0,0,0", r":3: vote counts must be numbers"),
        ("Training,a.png,4,0,nan,1,3,2,0,0,0,0", r":3: vote counts must be finite"),
    ],
)
def test_malformed_vote_row_names_the_line(tmp_path: Path, row: str, message: str) -> None:
    with pytest.raises(FerPlusError, match=message):
        read_votes(_ferplus(tmp_path, "Training,ok.png,10,0,0,0,0,0,0,0,0,0", row))


def test_missing_emotion_column_is_an_error_on_line_1(tmp_path: Path) -> None:
    path = _ferplus(tmp_path, "Training,a.png,4,0,0,1,3,2", header="Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust")
    with pytest.raises(FerPlusError, match=r":1: missing FER\+ column\(s\) \['fear'\]"):
        read_votes(path)


def test_majority_rule_keeps_a_single_largest_class_that_is_ours() -> None:
    votes = np.array(
        [
            _votes(happy=6, neutral=4),  # kept: happy
            _votes(sad=5, neutral=5),  # tie: left out
            _votes(contempt=6, neutral=4),  # largest is contempt: left out
            _votes(unknown=5, fear=4, neutral=1),  # largest is unknown: left out
            _votes(NF=10),  # not a face: left out
            _votes(fear=3, surprise=2, contempt=2, unknown=2, NF=1),  # kept: fear, a plurality is enough
            _votes(),  # no votes at all: left out
        ],
        dtype=np.float32,
    )
    assert majority_mask(votes).tolist() == [True, False, False, False, False, True, False]
    labels, mask = majority_labels(votes)
    assert np.argmax(labels[mask], axis=1).tolist() == [EMOTIONS.index("happy"), EMOTIONS.index("fear")]
    assert labels[~mask].sum() == 0, "faces the rule leaves out carry no label"


def test_soft_targets_drop_single_votes_and_faces_our_classes_cannot_describe() -> None:
    votes = np.array(
        [
            _votes(happy=6, surprise=3, angry=1),  # the single anger vote is noise
            _votes(sad=4, neutral=4, contempt=2),  # a tie among ours stays, split
            _votes(contempt=7, neutral=3),  # mostly contempt: left out
            _votes(NF=9, neutral=1),  # not a face: left out (the lone neutral vote is dropped too)
        ],
        dtype=np.float32,
    )
    targets, usable = soft_targets(votes)
    assert usable.tolist() == [True, True, False, False]
    assert targets[0, EMOTIONS.index("happy")] == pytest.approx(6 / 9) and targets[0, EMOTIONS.index("angry")] == 0
    assert targets[1, EMOTIONS.index("sad")] == pytest.approx(0.5) and targets[1, EMOTIONS.index("neutral")] == pytest.approx(0.5)
    assert np.allclose(targets[usable].sum(axis=1), 1.0), "usable targets are distributions over our seven classes"
    assert targets[~usable].sum() == 0


def test_csv_and_ferplus_rows_must_align(fer_csv_factory: FerFactory, tmp_path: Path) -> None:
    fer = fer_csv_factory(rows=[(0, PIXELS, "Training"), (1, PIXELS, "PublicTest")])
    with pytest.raises(DataError, match="1 rows, but"):
        load_table(fer, _ferplus(tmp_path, "Training,a.png,10,0,0,0,0,0,0,0,0,0"))
    swapped = _ferplus(tmp_path, "Training,a.png,10,0,0,0,0,0,0,0,0,0", "Training,b.png,10,0,0,0,0,0,0,0,0,0")
    with pytest.raises(DataError, match=r":3: Usage differs"):
        load_table(fer, swapped)


def test_ferplus_labels_replace_fer2013_labels_and_drop_rows_without_one(fer_csv_factory: FerFactory, tmp_path: Path) -> None:
    fer = fer_csv_factory(rows=[(0, PIXELS, "Training"), (1, PIXELS, "Training"), (2, PIXELS, "PublicTest")])
    votes = _ferplus(
        tmp_path,
        "Training,a.png,0,9,0,0,1,0,0,0,0,0",  # happy by FER+, angry by FER2013
        "Training,,0,0,0,0,0,0,0,0,0,10",  # not a face
        "PublicTest,c.png,0,0,0,0,0,0,10,0,0,0",
    )
    table = load_table(fer, votes)
    assert labelled(table, "Training", "ferplus-majority").hard_labels.tolist() == [EMOTIONS.index("happy")]
    assert labelled(table, "Training", "fer2013").hard_labels.tolist() == [0, 1], "FER2013 labels keep every row"
    with pytest.raises(ValueError, match="needs FER\\+ votes"):
        labelled(load_table(fer), "Training", "ferplus-soft")


def test_npz_round_trip_keeps_rows_votes_and_leaves_out_privatetest(fer_csv_factory: FerFactory, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    faces = rng.integers(0, 256, (3, 48 * 48))
    fer = fer_csv_factory(rows=[(3, faces[0], "Training"), (5, faces[1], "PublicTest"), (6, faces[2], "PrivateTest")])
    votes = _ferplus(tmp_path, "Training,a,0,9,0,0,1,0,0,0,0,0", "PublicTest,b,0,0,8,0,0,0,0,0,2,0", "PrivateTest,c,10,0,0,0,0,0,0,0,0,0")
    table = load_table(fer, votes)
    packed = load_table(write_npz(table, tmp_path / "fer.npz"))
    assert packed.usages.tolist() == ["Training", "PublicTest"], "PrivateTest is held out of the compact file"
    assert np.array_equal(packed.images, table.images[:2]) and packed.codes.tolist() == [3, 5]
    assert packed.votes is not None and np.array_equal(packed.votes, table.votes[:2])  # type: ignore[index]
    for labels in ("fer2013", "ferplus-majority", "ferplus-soft"):
        a, b = labelled(table, "PublicTest", labels), labelled(packed, "PublicTest", labels)
        assert np.array_equal(a.labels, b.labels) and np.array_equal(a.images, b.images), labels


def test_a_file_that_is_not_ours_is_a_clear_error(tmp_path: Path) -> None:
    other = tmp_path / "other.npz"
    np.savez(other, x=np.zeros(3))
    with pytest.raises(DataError, match="not an emostream compact data file"):
        load_table(other)
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a zip")
    with pytest.raises(DataError, match="unreadable compact data file"):
        load_table(broken)


def test_real_ferplus_valid_slice_follows_the_rule(real_fer_slice: FerSlice) -> None:
    if real_fer_slice.ferplus is None:
        pytest.skip("fer2013new.csv is not in the shared FER2013 folder")
    table = load_table(real_fer_slice.csv, real_fer_slice.ferplus)
    valid = labelled(table, "PublicTest", "ferplus-majority")
    assert 0.8 * TEST_ROWS < len(valid) < TEST_ROWS, "most, not all, FER+ Valid faces have a single majority of ours"
    soft = labelled(table, "Training", "ferplus-soft")
    assert np.allclose(soft.labels.sum(axis=1), 1.0), "soft labels are vote shares"


def test_pack_data_command_writes_a_file_every_command_reads(fer_csv_factory: FerFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from emostream.training import cli

    fer = fer_csv_factory(rows=[(3, PIXELS, "Training"), (5, PIXELS, "PublicTest")])
    votes = _ferplus(tmp_path, "Training,a,0,9,0,0,1,0,0,0,0,0", "PublicTest,b,0,0,8,0,0,0,0,0,2,0")
    out = tmp_path / "packed.npz"
    assert cli.main(["pack-data", "--data", str(fer), "--ferplus", str(votes), "--out", str(out)]) == 0
    assert "2 faces (Training, PublicTest) with FER+ votes" in capsys.readouterr().out
    assert labelled(load_table(out), "PublicTest", "ferplus-majority").hard_labels.tolist() == [EMOTIONS.index("surprise")]
    assert cli.main(["pack-data", "--data", str(fer), "--out", str(tmp_path / "x.zip")]) == 2, "a wrong suffix is refused"
