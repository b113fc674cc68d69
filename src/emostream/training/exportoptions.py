"""The options of ``emostream export``: one dataclass, its command-line flags, and the command that reproduces it.

As :mod:`emostream.training.options` does for training: the flags take their
defaults from :class:`ExportOptions`, every flag's ``dest`` is a field name,
and the card records ``export_command(opts)``, so the command line, the
Python call and the card cannot drift apart.
"""

from __future__ import annotations

import argparse
import shlex
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

EXPORT_FORMATS = ("keras", "tflite-float32", "tflite-fp16", "tflite-dynamic", "tflite-int8")
SERVE_TFLITE = ("float32", "fp16", "dynamic", "int8")


@dataclass(frozen=True)
class ExportOptions:
    """What ``export`` writes, from which Keras file, and how it is checked and scored."""

    model: Path
    out: Path
    name: str
    version: str = "1.0.0"
    formats: tuple[str, ...] = ("keras", "tflite-fp16")
    data: Path | None = None  # int8 calibration and the TFLite check; default: run.json's data
    report: Path | None = None  # an `emostream evaluate` report.json for the card's metrics
    serve_tflite: str | None = None  # default: the first exported of float32, fp16, dynamic, int8
    scale: float | None = None
    offset: float | None = None
    calibration_samples: int = 200
    check_samples: int = 200
    seed: int = 1337
    license_text: str | None = None
    source: str | None = None
    force: bool = False
    tta: str = ""
    prior_tau: float = 0.0  # calibrated priors the classifier applies; the prior itself comes from the training data
    score: Path | None = None
    score_usage: str = "PublicTest"
    score_out: Path | None = None
    score_ferplus: Path | None = None
    keras_dtype: str = "float32"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = str(value) if isinstance(value, Path) else list(value) if isinstance(value, tuple) else value
        return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = ExportOptions(model=Path("."), out=Path("."), name="")
    p = parser.add_argument
    p(
        "--model",
        type=Path,
        required=True,
        help="the Keras file to export, e.g. runs/NAME/best.keras; run.json and state.json next to it fill the card's training section",
    )
    p("--out", type=Path, required=True, help="model folder to write (model.keras, *.tflite, model.json)")
    p("--name", help="model name in the card (default: the --out folder's name)")
    p("--version", default=d.version, help="model version in the card (default %(default)s)")
    p("--formats", nargs="+", choices=EXPORT_FORMATS, default=list(d.formats), help="files to write (default: %(default)s)")
    p(
        "--serve-tflite",
        choices=SERVE_TFLITE,
        help="the TFLite variant the card lists as 'tflite' (default: the first exported of float32, fp16, dynamic, int8)",
    )
    p(
        "--data",
        type=Path,
        help="training data (fer2013.csv[.gz] or image folder) for int8 calibration and the TFLite agreement check "
        "(default: run.json's data, when it exists)",
    )
    p("--calibration-samples", type=int, default=d.calibration_samples, help="training faces used to calibrate int8 (default %(default)s)")
    p(
        "--check-samples",
        type=int,
        default=d.check_samples,
        help="further training faces on which TFLite labels are compared with Keras; 0 = skip (default %(default)s)",
    )
    p("--seed", type=int, default=d.seed, help="random seed for picking the calibration and check faces (default %(default)s)")
    p("--report", type=Path, help="report.json from `emostream evaluate`, whose headline metrics go into the card")
    p("--scale", type=float, help="preprocessing scale, input = pixels*scale+offset (default 1/255, what `emostream train` uses)")
    p("--offset", type=float, help="preprocessing offset (default 0)")
    p("--license", dest="license_text", help="licence text for the card, e.g. of the weights or the training data")
    p("--source", help="where the model comes from, for the card")
    p("--force", action="store_true", help="overwrite a model folder that already exists")
    p(
        "--keras-dtype",
        choices=("float32", "float16"),
        default=d.keras_dtype,
        help="storage of the model.keras weights: float16 halves the file; the classifier computes in float32 "
        "on a CPU, mixed precision on a GPU (default %(default)s)",
    )
    p("--score", type=Path, help="labelled data (fer2013.csv[.gz] or image folder): evaluate the written folder as served and put its metrics in the card")
    p("--score-ferplus", type=Path, help="fer2013new.csv: with --score, also score FER+ majority agreement (automatic for a packed .npz)")
    p("--score-usage", default=d.score_usage, help="FER2013 rows --score evaluates on (default %(default)s)")
    p("--score-out", type=Path, help="folder for the --score report.json, confusion.csv and confusion.png")
    p("--prior-tau", type=float, default=d.prior_tau, help="strength of the calibrated class priors the classifier applies; the card's prior, "
      "written whenever there is training data, is the class shares of its labels (docs/training.md); 0 = off (default %(default)s)")
    p(
        "--tta",
        choices=["flip"],
        default=d.tta,
        help="test-time augmentation the classifier applies: 'flip' averages each face with its mirror image "
        "(twice the inference cost); the --report must then come from `emostream evaluate --tta`",
    )


def options_from_args(args: argparse.Namespace) -> ExportOptions:
    """The options a parsed command line asks for; every flag's ``dest`` is a field of :class:`ExportOptions`."""
    values = {f.name: getattr(args, f.name) for f in fields(ExportOptions)}
    values["formats"] = tuple(values["formats"])
    values["name"] = values["name"] or Path(args.out).resolve().name
    return ExportOptions(**values)


def export_command(opts: ExportOptions) -> str:
    """The ``emostream export`` command line for ``opts``, every option spelled out (None and False left out)."""
    flags = {f.name: "--license" if f.name == "license_text" else "--" + f.name.replace("_", "-") for f in fields(ExportOptions)}
    cmd = ["emostream", "export"]
    for name, value in opts.to_json().items():
        if value is None or value is False or (name == "tta" and not value):
            continue
        if value is True:
            cmd.append(flags[name])
        elif isinstance(value, list):
            cmd += [flags[name], *map(str, value)]
        else:
            cmd += [flags[name], str(value)]
    return shlex.join(cmd)
