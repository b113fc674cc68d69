"""``emostream export``: the model folder, its card, and Keras/TFLite agreement."""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from emostream.classifier.runtime import load_runtime
from emostream.infra.modelcard import ModelCard, load_card, sha256_of
from emostream.training import cli
from emostream.training import export as export_module
from emostream.training import train as train_module
from emostream.training.data import load_fer2013
from emostream.training.evaluate import evaluate, fit_to_card
from emostream.training.export import ExportOptions, export
from emostream.training.exportoptions import export_command
from emostream.training.provenance import train_command

from .conftest import TRAIN_SIZE, FerSlice, TrainedRun

pytestmark = pytest.mark.slow


@dataclass
class Exported:
    card: ModelCard
    report: dict[str, Any]
    summary: str
    run: TrainedRun


@pytest.fixture(scope="module")
def exported(trained_run: TrainedRun, fer_slice: FerSlice, tmp_path_factory: pytest.TempPathFactory) -> Exported:
    """best.keras evaluated, then exported in every format; --data left out so run.json's is used."""
    from contextlib import redirect_stdout
    from io import StringIO

    work = tmp_path_factory.mktemp("export")
    best = trained_run.folder / "best.keras"
    assert cli.main(["evaluate", "--model", str(best), "--data", str(fer_slice.csv), "--out", str(work / "eval")]) == 0
    printed = StringIO()
    with redirect_stdout(printed):
        rc = cli.main(
            [
                "export",
                "--model",
                str(best),
                "--out",
                str(work / "model"),
                "--name",
                "compact-test",
                "--version",
                "0.1.0",
                "--formats",
                "keras",
                "tflite-fp16",
                "tflite-int8",
                "--report",
                str(work / "eval" / "report.json"),
                "--calibration-samples",
                "100",
                "--check-samples",
                "100",
            ]
        )
    assert rc == 0
    report = json.loads((work / "eval" / "report.json").read_text())
    return Exported(load_card(work / "model"), report, printed.getvalue(), trained_run)


def test_card_lists_keras_and_the_served_tflite_with_checksums(exported: Exported) -> None:
    card = exported.card
    assert card.files == {"keras": "model.keras", "tflite": "model-fp16.tflite"}, "fp16 is served by default"
    for fmt in ("keras", "tflite"):
        assert card.sha256[card.files[fmt]] == sha256_of(card.verify(fmt)), f"sha256 of the {fmt} file"
    variants = card.extra["tflite_variants"]
    assert set(variants) == {"fp16", "int8"}
    for name, entry in variants.items():
        assert entry["sha256"] == sha256_of(card.folder / entry["file"]), f"sha256 of the {name} variant"
        assert entry["checked_on"] == 100 and 0.0 <= entry["agreement_with_keras"] <= 1.0


def test_card_describes_input_preprocessing_training_and_metrics(exported: Exported) -> None:
    card, run = exported.card, exported.run
    assert card.label == "compact-test:0.1.0"
    assert card.input_shape == (TRAIN_SIZE, TRAIN_SIZE, 1) and card.color == "gray"
    assert (card.scale, card.offset) == (pytest.approx(1 / 255), 0.0), "train.py feeds pixels / 255"
    training = card.extra["training"]
    run_json = json.loads((run.folder / "run.json").read_text())
    state = json.loads((run.folder / "state.json").read_text())
    assert training["data"] == run_json["data"] and training["options"] == run_json
    assert (training["epochs"], training["best_epoch"]) == (state["epoch"], state["best_epoch"])
    assert training["best_val_accuracy"] == pytest.approx(state["best"])
    metrics = card.extra["metrics"]
    assert metrics["accuracy"] == pytest.approx(exported.report["accuracy"])
    assert metrics["macro_f1"] == pytest.approx(exported.report["macro_f1"])
    assert "note" not in metrics, "the report was made for this very model"


def test_card_command_reproduces_the_run_options(exported: Exported) -> None:
    command = shlex.split(exported.card.extra["training"]["command"])
    assert command[:2] == ["emostream", "train"]
    parser = argparse.ArgumentParser()
    train_module.add_arguments(parser)
    options = json.loads(json.dumps(train_module.options_from_args(parser.parse_args(command[2:])).to_json()))
    run_json = json.loads((exported.run.folder / "run.json").read_text())
    assert run_json.pop("backend") == "tensorflow", "run.json records the Keras backend, for provenance only"
    assert options == run_json, "the recorded command must parse back to the options in run.json"


def test_train_command_round_trips_non_default_options(tmp_path: Path) -> None:
    opts = train_module.TrainOptions(data=tmp_path / "d.csv", out=tmp_path / "o", ferplus=tmp_path / "n.csv", labels="ferplus-soft")
    run = json.loads(json.dumps(opts.to_json()))  # as run.json holds it: tuples become lists
    run["model"].update(dense=[], weights=None, input_size=64)
    run["augment"].update(flip=False, rotation_deg=0.0, erasing=0.25, mixup=0.2, cutmix=1.0)
    run.update(optimizer="sgd", weight_decay=5e-4, steps_per_epoch=100, teacher=["ensemble", "t.keras"], teacher_weight=0.7, teacher_temperature=2.0)
    run.update(holdout=0.15, holdout_seed=7)
    parser = argparse.ArgumentParser()
    train_module.add_arguments(parser)
    parsed = json.loads(json.dumps(train_module.options_from_args(parser.parse_args(train_command(run)[2:])).to_json()))
    assert parsed == run


def test_card_records_the_export_command_that_repeats_it(exported: Exported) -> None:
    command = shlex.split(exported.card.extra["exported"]["command"])
    assert command[:2] == ["emostream", "export"]
    parser = argparse.ArgumentParser()
    export_module.add_arguments(parser)
    folder = exported.card.folder
    best, report = exported.run.folder / "best.keras", folder.parent / "eval" / "report.json"
    expected = ExportOptions(
        best, folder, "compact-test", "0.1.0", formats=("keras", "tflite-fp16", "tflite-int8"), report=report, calibration_samples=100, check_samples=100
    )
    assert export_module.options_from_args(parser.parse_args(command[2:])) == expected


def test_every_export_option_has_one_flag_and_round_trips(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    export_module.add_arguments(parser)
    dests = {action.dest for action in parser._actions if action.dest != "help"}
    assert dests == {f.name for f in fields(ExportOptions)}, "the flags and ExportOptions must name the same options"
    unusual = ExportOptions(
        tmp_path / "m.keras", tmp_path / "o", "n", "2.0.0", formats=("tflite-dynamic", "tflite-int8"), data=tmp_path / "d.npz",
        serve_tflite="int8", scale=0.5, offset=-1.0, calibration_samples=9, check_samples=0, seed=4, license_text="MIT, with a space",
        source="s", force=True, tta="flip", score=tmp_path / "d.npz", score_usage="Training", score_out=tmp_path / "e",
        score_ferplus=tmp_path / "f.csv", keras_dtype="float16", prior_tau=0.25,
    )  # fmt: skip
    command = shlex.split(export_command(unusual))
    assert export_module.options_from_args(parser.parse_args(command[2:])) == unusual


def test_keras_and_tflite_give_the_same_labels(exported: Exported, fer_slice: FerSlice) -> None:
    card = exported.card
    faces = fit_to_card(load_fer2013(fer_slice.csv, ("PublicTest",)).images, card)
    keras_rt = load_runtime(card, "keras", batch_max=32)
    reference = keras_rt.predict(faces)
    fp16 = load_runtime(card, "tflite", batch_max=32).predict(faces)
    top2 = np.sort(reference, axis=1)[:, -2:]
    clear = (top2[:, 1] - top2[:, 0]) > 1e-3  # float16 weights may flip a dead heat, nothing else
    same = np.argmax(fp16, 1) == np.argmax(reference, 1)
    assert same[clear].all(), f"fp16 TFLite disagrees with Keras on {np.sum(~same[clear])} clear-cut faces"
    assert np.abs(fp16 - reference).max() < 0.02, "fp16 probabilities should match Keras closely"
    int8_card = ModelCard(**{**card.__dict__, "files": {"tflite": card.extra["tflite_variants"]["int8"]["file"]}})
    int8 = load_runtime(int8_card, "tflite", batch_max=32).predict(faces)
    agreement = np.mean(np.argmax(int8, 1) == np.argmax(reference, 1))
    assert agreement >= 0.85, f"int8 TFLite agrees with Keras on only {agreement:.0%} of faces"


def test_exported_folder_evaluates_in_tflite_like_in_keras(exported: Exported, fer_slice: FerSlice) -> None:
    data = load_fer2013(fer_slice.csv, ("PublicTest",))
    as_keras = evaluate(exported.card.folder, data, fmt="keras")
    as_tflite = evaluate(exported.card.folder, data, fmt="tflite")
    assert as_tflite["accuracy"] == pytest.approx(as_keras["accuracy"], abs=0.03)
    assert as_keras["accuracy"] == pytest.approx(exported.report["accuracy"]), "re-saved Keras file must predict the same"


def test_summary_names_files_and_served_formats(exported: Exported) -> None:
    summary = exported.summary
    assert "model-int8.tflite" in summary and "(served)" in summary and "same label as keras" in summary
    assert f"accuracy {exported.report['accuracy']:.4f}" in summary


def test_int8_only_export_serves_int8_without_a_keras_file(trained_run: TrainedRun, fer_slice: FerSlice, tmp_path: Path) -> None:
    card = export(ExportOptions(
        trained_run.folder / "best.keras",
        tmp_path / "m",
        "int8-only",
        "1",
        formats=("tflite-int8",),
        data=fer_slice.csv,
        calibration_samples=50,
        check_samples=50,
    ))
    assert card.files == {"tflite": "model-int8.tflite"}
    assert not (tmp_path / "m" / "model.keras").exists(), "keras was not asked for"
    assert "metrics" in card.extra and card.extra["metrics"] == {}


def test_export_refuses_bad_requests_before_converting(trained_run: TrainedRun, tmp_path: Path) -> None:
    best = trained_run.folder / "best.keras"
    with pytest.raises(ValueError, match="--serve-tflite int8 needs tflite-int8"):
        export(ExportOptions(best, tmp_path / "a", "n", "1", formats=("keras", "tflite-fp16"), serve_tflite="int8"))
    with pytest.raises(ValueError, match="formats must be among"):
        export(ExportOptions(best, tmp_path / "a", "n", "1", formats=("onnx",)))
    lone = tmp_path / "lone" / "model.keras"
    lone.parent.mkdir()
    shutil.copy(best, lone)
    with pytest.raises(ValueError, match="tflite-int8 needs --data"):
        export(ExportOptions(lone, tmp_path / "a", "n", "1", formats=("tflite-int8",)))
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "model.json").write_text("{}")
    with pytest.raises(FileExistsError, match="--force"):
        export(ExportOptions(best, tmp_path / "taken", "n", "1"))


def test_flip_tta_is_recorded_in_the_card_and_served_with_the_metrics_it_was_evaluated_with(
    trained_run: TrainedRun, fer_slice: FerSlice, tmp_path: Path
) -> None:
    best = trained_run.folder / "best.keras"
    dataset = load_fer2013(fer_slice.csv, ("PublicTest",))
    plain_report, tta_report = tmp_path / "plain.json", tmp_path / "tta.json"
    plain_report.write_text(json.dumps(evaluate(best, dataset)))
    tta_report.write_text(json.dumps(evaluate(best, dataset, tta=True)))
    with pytest.raises(ValueError, match="evaluated without flip TTA but the model is exported with it"):
        export(ExportOptions(best, tmp_path / "wrong", "n", "1", formats=("keras",), report=plain_report, tta="flip"))

    card = export(ExportOptions(best, tmp_path / "m", "n", "1", formats=("keras", "tflite-fp16"), report=tta_report, tta="flip", check_samples=0))
    assert card.tta == "flip" and card.extra["metrics"]["tta"] is True
    # Served as exported: the folder evaluates (without asking for TTA) to the accuracy of the TTA report.
    again = evaluate(tmp_path / "m", dataset, fmt="tflite")
    assert again["tta"] is True
    assert again["accuracy"] == pytest.approx(card.extra["metrics"]["accuracy"], abs=0.02)


def test_an_ensemble_is_the_mean_of_its_members_and_its_card_lists_how_each_was_trained(trained_run: TrainedRun, tmp_path: Path) -> None:
    import keras

    from benchmarks.models import multiply_adds
    from emostream.training.ensemble import build_ensemble

    members = [trained_run.folder / "best.keras", trained_run.folder / "last.keras"]
    path = build_ensemble(members, tmp_path / "ens")
    ensemble = keras.models.load_model(path, compile=False)
    singles = [keras.models.load_model(m, compile=False) for m in members]
    faces = np.random.default_rng(3).random((5, TRAIN_SIZE, TRAIN_SIZE, 1), dtype=np.float32)
    expected = np.mean([np.asarray(m(faces, training=False)) for m in singles], axis=0)
    np.testing.assert_allclose(np.asarray(ensemble(faces, training=False)), expected, atol=1e-5)
    assert multiply_adds(ensemble) == sum(multiply_adds(m) for m in singles), "the cost of an ensemble is the sum of its members'"

    card = export(ExportOptions(path, tmp_path / "m", "ens", "1", formats=("keras",)))
    training = card.extra["training"]
    assert [m["source_sha256"] for m in training["members"]] == [sha256_of(m) for m in members]
    assert all(m["command"].startswith("emostream train ") for m in training["members"])
    with pytest.raises(ValueError, match="at least two"):
        build_ensemble(members[:1], tmp_path / "one")


def test_score_puts_the_accuracy_of_the_served_file_in_the_card(trained_run: TrainedRun, fer_slice: FerSlice, tmp_path: Path) -> None:
    best = trained_run.folder / "best.keras"
    card = export(ExportOptions(
        best, tmp_path / "m", "scored", "1", formats=("tflite-dynamic",), tta="flip", score=fer_slice.csv, score_out=tmp_path / "eval", check_samples=50
    ))
    assert card.files == {"tflite": "model-dynamic.tflite"}
    served = evaluate(tmp_path / "m", load_fer2013(fer_slice.csv, ("PublicTest",)), fmt="tflite")
    metrics = card.extra["metrics"]
    assert metrics["accuracy"] == served["accuracy"] and metrics["tta"] is True and metrics["format"] == "tflite"
    assert (tmp_path / "eval" / "confusion.png").is_file()
    with pytest.raises(ValueError, match="--score and --report"):
        export(ExportOptions(best, tmp_path / "x", "n", "1", report=tmp_path / "eval" / "report.json", score=fer_slice.csv))


def test_float32_and_dynamic_variants_with_ferplus_agreement_as_served(trained_run: TrainedRun, real_fer_slice: FerSlice, tmp_path: Path) -> None:
    """The card format the classifier's CPU choice reads: a float32 file for AVX2-only CPUs beside int8 weights."""
    if real_fer_slice.ferplus is None:
        pytest.skip("fer2013new.csv is not in the shared FER2013 folder")
    from emostream.training.table import labelled, load_table

    best = trained_run.folder / "best.keras"
    card = export(ExportOptions(
        best,
        tmp_path / "m",
        "fast-test",
        "1",
        formats=("keras", "tflite-float32", "tflite-dynamic"),
        serve_tflite="float32",
        tta="flip",
        data=real_fer_slice.csv,
        score=real_fer_slice.csv,
        score_ferplus=real_fer_slice.ferplus,
        check_samples=50,
    ))
    variants = card.extra["tflite_variants"]
    assert card.files["tflite"] == "model-float32.tflite" and set(variants) == {"float32", "dynamic"}
    assert variants["float32"]["agreement_with_keras"] == 1.0, "float32 TFLite computes what Keras computes"
    assert variants["float32"]["max_abs_prob_diff"] < 1e-4
    valid = labelled(load_table(real_fer_slice.csv, real_fer_slice.ferplus), "PublicTest", "ferplus-majority")
    served = evaluate(tmp_path / "m", valid, fmt="tflite")
    plus = card.extra["metrics_ferplus"]
    assert plus["accuracy"] == served["accuracy"] and plus["samples"] == len(valid) and plus["data"]["labels"] == "ferplus-majority"
    assert card.extra["metrics"]["data"]["labels"] == "fer2013", "FER2013 accuracy stays beside it"


def test_the_card_gets_the_class_shares_of_the_training_labels_as_prior_and_serves_the_tau_asked_for(
    trained_run: TrainedRun, fer_slice: FerSlice, tmp_path: Path
) -> None:
    best = trained_run.folder / "best.keras"
    card = export(ExportOptions(
        best, tmp_path / "m", "primed", "1", formats=("tflite-float32",), data=fer_slice.csv, prior_tau=0.5, score=fer_slice.csv, check_samples=0
    ))
    # The run trained on FER2013's labels: the prior is their shares over the Training rows, counted here independently.
    codes = load_fer2013(fer_slice.csv, ("Training",)).hard_labels
    shares = np.maximum(np.bincount(codes, minlength=7) / len(codes), 1e-4)
    assert card.prior == pytest.approx(tuple(shares / shares.sum()), abs=1e-6)
    assert card.prior_tau == 0.5 and card.extra["prior_source"]["labels"] == "fer2013"
    # --score measured the folder as served, priors included.
    served = evaluate(tmp_path / "m", load_fer2013(fer_slice.csv, ("PublicTest",)), fmt="tflite")
    assert card.extra["metrics"]["accuracy"] == served["accuracy"]
    lone = tmp_path / "lone" / "model.keras"
    lone.parent.mkdir()
    shutil.copy(best, lone)  # no run.json beside it: no training data to take the prior from
    with pytest.raises(ValueError, match="--prior-tau needs --data"):
        export(ExportOptions(lone, tmp_path / "a", "n", "1", formats=("keras",), prior_tau=0.2))
    with pytest.raises(ValueError, match="prior_tau must be a finite number >= 0"):
        export(ExportOptions(best, tmp_path / "b", "n", "1", formats=("keras",), prior_tau=-1.0))
    with pytest.raises(ValueError, match="use --score"):
        export(ExportOptions(best, tmp_path / "b", "n", "1", formats=("keras",), prior_tau=0.2, report=tmp_path / "report.json"))
    plain = export(ExportOptions(lone, tmp_path / "c", "n", "1", formats=("keras",)))
    assert plain.prior is None and plain.prior_tau == 0.0
