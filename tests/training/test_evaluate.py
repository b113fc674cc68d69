"""``emostream evaluate``: predictions, preprocessing, TTA and the written report."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import keras
import numpy as np
import pytest

from emostream.infra.emotions import EMOTIONS
from emostream.infra.modelcard import write_card
from emostream.training import cli
from emostream.training.data import Dataset, load_fer2013
from emostream.training.evaluate import evaluate, load_eval_data

from .conftest import TEST_ROWS, FerSlice


def _linear_model(height: int, width: int, seed: int = 3) -> keras.Model:
    """A softmax over flattened pixels: instant to build, and mirroring changes its output."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((height, width, 1))
    outputs = keras.layers.Dense(7, activation="softmax")(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, outputs)
    kernel, bias = model.layers[-1].get_weights()
    model.layers[-1].set_weights([kernel * 20, bias])  # spread the logits so labels vary
    return model


def _faces(n: int = 40, seed: int = 5) -> Dataset:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 48, 48, 1), dtype=np.uint8)
    return Dataset(images, np.eye(7, dtype=np.float32)[rng.integers(0, 7, n)])


def _expected_probs(model: keras.Model, data: Dataset, height: int, width: int, scale: float, offset: float) -> np.ndarray:
    resized = np.stack([cv2.resize(i, (width, height), interpolation=cv2.INTER_LINEAR) for i in data.images])[..., None]
    return np.asarray(model(resized.astype(np.float32) * scale + offset, training=False))


@pytest.fixture(scope="module")
def keras_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, keras.Model]:
    model = _linear_model(16, 16)
    path = tmp_path_factory.mktemp("bare") / "tiny.keras"
    model.save(path)
    return path, model


def test_bare_keras_file_is_resized_and_scaled_as_train_does(keras_file: tuple[Path, keras.Model]) -> None:
    path, model = keras_file
    data = _faces()
    report = evaluate(path, data, batch_size=16)
    expected = np.argmax(_expected_probs(model, data, 16, 16, 1 / 255, 0.0), axis=1)
    hits = int(np.sum(expected == data.hard_labels))
    assert report["accuracy"] == pytest.approx(hits / len(data)), "accuracy must match the model's own predictions"
    assert np.sum(report["confusion_matrix"]) == len(data)
    predicted_counts = np.sum(report["confusion_matrix"], axis=0).tolist()
    assert predicted_counts == np.bincount(expected, minlength=7).tolist(), "confusion columns are the predictions"
    assert report["input"] == {"width": 16, "height": 16, "color": "gray"}
    assert report["classes"] == list(EMOTIONS) and report["tta"] is False


def test_tta_averages_the_probabilities_of_the_face_and_its_mirror(keras_file: tuple[Path, keras.Model]) -> None:
    path, model = keras_file
    data = _faces()
    plain = _expected_probs(model, data, 16, 16, 1 / 255, 0.0)
    mirrored = _expected_probs(model, Dataset(data.images[:, :, ::-1], data.labels), 16, 16, 1 / 255, 0.0)
    with_tta = np.argmax((plain + mirrored) / 2, axis=1)
    assert np.any(with_tta != np.argmax(plain, axis=1)), "test precondition: mirroring must change some labels"
    report = evaluate(path, data, tta=True, batch_size=16)
    predicted_counts = np.sum(report["confusion_matrix"], axis=0).tolist()
    assert predicted_counts == np.bincount(with_tta, minlength=7).tolist(), "TTA must average both views"
    assert report["accuracy"] == pytest.approx(np.mean(with_tta == data.hard_labels))
    assert report["tta"] is True


def test_model_folder_uses_the_cards_input_size_and_preprocessing(tmp_path: Path) -> None:
    model = _linear_model(24, 20)
    model.save(tmp_path / "model.keras")
    scale, offset = 2 / 255, -1.0
    write_card(
        tmp_path,
        {
            "name": "tiny",
            "version": "0.0.1",
            "classes": list(EMOTIONS),
            "input": {"width": 20, "height": 24, "color": "gray"},
            "preprocessing": {"scale": scale, "offset": offset},
            "files": {"keras": "model.keras"},
        },
    )
    data = _faces()
    report = evaluate(tmp_path, data, batch_size=8)
    expected = np.argmax(_expected_probs(model, data, 24, 20, scale, offset), axis=1)
    predicted_counts = np.sum(report["confusion_matrix"], axis=0).tolist()
    assert predicted_counts == np.bincount(expected, minlength=7).tolist(), "the card's size and preprocessing must be used"
    assert report["model_name"] == "tiny:0.0.1"
    with pytest.raises(ValueError, match="bare Keras files only"):
        evaluate(tmp_path, data, scale=1.0)


def test_tflite_format_needs_a_model_folder(keras_file: tuple[Path, keras.Model]) -> None:
    with pytest.raises(ValueError, match="needs a model folder"):
        evaluate(keras_file[0], _faces(), fmt="tflite")


def test_cli_writes_report_json_csv_and_png(
    keras_file: tuple[Path, keras.Model], fer_slice: FerSlice, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "eval"
    rc = cli.main(
        [
            "evaluate",
            "--model",
            str(keras_file[0]),
            "--data",
            str(fer_slice.csv),
            "--out",
            str(out),
            "--tta",
            "--limit",
            "50",
            "--batch-size",
            "16",
        ]
    )
    assert rc == 0
    report = json.loads((out / "report.json").read_text())
    assert report["samples"] == 50 and report["data"]["usage"] == "PublicTest" and report["tta"] is True
    assert set(report["per_class"]) == set(EMOTIONS)
    assert (out / "confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", "confusion.png must be a PNG"
    rows = (out / "confusion.csv").read_text().splitlines()
    assert len(rows) == 8 and rows[1].split(",")[0] == "angry"
    assert sum(int(v) for row in rows[1:] for v in row.split(",")[1:]) == 50
    printed = capsys.readouterr().out
    assert f"accuracy {report['accuracy']:.4f}" in printed and "macro F1" in printed, "the table must end with a summary"


def test_cli_scores_the_faces_through_one_camera_condition_or_all(
    keras_file: tuple[Path, keras.Model], fer_slice: FerSlice, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from emostream.training.robustness import CONDITIONS, degrade_all

    common = ["evaluate", "--model", str(keras_file[0]), "--data", str(fer_slice.csv), "--limit", "30"]
    assert cli.main([*common, "--out", str(tmp_path / "clean")]) == 0
    assert cli.main([*common, "--camera", "blur-1.8", "--out", str(tmp_path / "blur")]) == 0
    clean, blurred = (json.loads((tmp_path / k / "report.json").read_text()) for k in ("clean", "blur"))
    assert blurred["data"]["camera"] == "blur-1.8" and clean["data"]["camera"] is None
    faces = load_eval_data(fer_slice.csv).subset(np.sort(np.random.default_rng(1337).permutation(len(load_eval_data(fer_slice.csv)))[:30]))
    expected = np.argmax(_expected_probs(keras_file[1], Dataset(degrade_all(faces.images, CONDITIONS["blur 1.8"]), faces.labels), 16, 16, 1 / 255, 0), axis=1)
    assert blurred["accuracy"] == pytest.approx(float(np.mean(expected == faces.hard_labels))), "the report is of the blurred faces"
    capsys.readouterr()
    assert cli.main([*common, "--camera", "all", "--out", str(tmp_path / "all")]) == 0
    printed = capsys.readouterr().out
    reports = json.loads((tmp_path / "all" / "camera.json").read_text())
    assert list(reports) == ["clean", *CONDITIONS] and reports["clean"]["accuracy"] == pytest.approx(clean["accuracy"])
    assert reports["blur 1.8"]["accuracy"] == pytest.approx(blurred["accuracy"])
    assert "| **mean of the 12 camera conditions** |" in printed and printed.count("\n| ") >= 14
    assert cli.main([*common, "--camera", "fog"]) == 2
    assert "unknown camera condition 'fog'; choose from blur-1.0, " in capsys.readouterr().err


def test_eval_data_from_an_image_folder_picks_the_split(tmp_path: Path) -> None:
    for split, name in (("train", "happy"), ("test", "sad")):
        (tmp_path / split / name).mkdir(parents=True)
        cv2.imwrite(str(tmp_path / split / name / "0.png"), np.zeros((48, 48), np.uint8))
    assert load_eval_data(tmp_path).hard_labels.tolist() == [EMOTIONS.index("sad")], "test/ by default"
    assert load_eval_data(tmp_path, usage="Training").hard_labels.tolist() == [EMOTIONS.index("happy")]
    assert load_eval_data(tmp_path / "train").hard_labels.tolist() == [EMOTIONS.index("happy")], "class folders directly"
    with pytest.raises(ValueError, match="--ferplus"):
        load_eval_data(Path("fer.csv"), labels="ferplus-majority")


@pytest.mark.parametrize("fmt", ["keras", "tflite"])
def test_packaged_mini_xception_scores_near_its_published_accuracy(real_fer_slice: FerSlice, fmt: str) -> None:
    # mini-Xception: 65.5% on all of PublicTest at 64x64, scaled to [-1, 1] by its card.
    data = load_fer2013(real_fer_slice.csv, ("PublicTest",))
    report = evaluate("mini-xception", data, batch_size=32, fmt=fmt)
    assert report["samples"] == TEST_ROWS
    assert report["accuracy"] >= 0.5, f"mini-Xception ({fmt}) should reach ~65% on FER2013 PublicTest, got {report['accuracy']:.3f}"
    assert report["input"]["width"] == 64, "the 48x48 crops must be resized to the card's 64x64"


def test_ferplus_majority_labels_score_the_rows_that_have_one(
    keras_file: tuple[Path, keras.Model], real_fer_slice: FerSlice, tmp_path: Path
) -> None:
    if real_fer_slice.ferplus is None:
        pytest.skip("fer2013new.csv is not in the shared FER2013 folder")
    args = ["evaluate", "--model", str(keras_file[0]), "--data", str(real_fer_slice.csv), "--out", str(tmp_path)]
    assert cli.main([*args, "--labels", "ferplus-majority", "--ferplus", str(real_fer_slice.ferplus)]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert 0 < report["samples"] <= TEST_ROWS, "not-a-face rows have no FER+ label and are left out"
    assert report["data"]["labels"] == "ferplus-majority"
