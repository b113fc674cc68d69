"""``emostream ensemble``: average several trained models into one Keras file.

Networks trained alike from different random starts make partly different
mistakes, so the mean of their probabilities is more accurate than any one of
them; on FER2013 that is worth a point or two of accuracy. The members must
take the same input (size and colour) and the same preprocessing. The result
is one Keras model (``model.keras``) with the members inside it, so
``emostream evaluate`` and ``emostream export`` treat it like any other: its
cost per face is the sum of the members'.

Next to it, ``ensemble.json`` lists each member with its sha256 and the
``run.json``/``state.json`` of its run, so the exported model card can still
say how every part was trained.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from emostream.infra.modelcard import sha256_of

log = logging.getLogger(__name__)

MANIFEST = "ensemble.json"


def _run_files(member: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("run", "state"):
        path = member.parent / f"{name}.json"
        if path.is_file():
            out[name] = json.loads(path.read_text())
    return out


def build_ensemble(members: list[Path], out: Path, force: bool = False) -> Path:
    """Write ``out/model.keras`` (the mean of ``members``) and ``out/ensemble.json``; returns the Keras path."""
    import keras

    if len(members) < 2:
        raise ValueError("an ensemble needs at least two --member models")
    target = out / "model.keras"
    if target.exists() and not force:
        raise FileExistsError(f"{target} exists; pass --force to overwrite it")
    models = []
    for index, path in enumerate(members):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such model file")
        model = keras.models.load_model(path, compile=False)
        # Each member gets a name of its own: layer names inside may repeat across members.
        if len(model.inputs) != 1 or len(model.outputs) != 1:
            raise ValueError(f"{path}: a member must take one input and give one output")
        models.append(keras.Model(model.inputs[0], model.outputs[0], name=f"member_{index}"))
    shapes = {tuple(m.input_shape[1:]) for m in models}
    if len(shapes) != 1:
        raise ValueError(f"the members take different inputs: {sorted(shapes)}")
    inputs = keras.Input(shapes.pop(), name="face")
    outputs = keras.layers.Average(name="emotion")([m(inputs) for m in models])
    ensemble = keras.Model(inputs, outputs, name="ensemble")
    out.mkdir(parents=True, exist_ok=True)
    ensemble.save(target)
    manifest = {
        "combination": "mean of the members' probabilities",
        "members": [{"path": str(p), "sha256": sha256_of(p), **_run_files(p)} for p in members],
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    log.info("wrote %s: the mean of %d models, %d parameters", target, len(models), ensemble.count_params())
    return target


def add_arguments(parser: argparse.ArgumentParser) -> None:
    p = parser.add_argument
    p("--member", type=Path, action="append", required=True, help="a trained Keras file (runs/NAME/best.keras); give two or more")
    p("--out", type=Path, required=True, help="folder for model.keras and ensemble.json")
    p("--force", action="store_true", help="overwrite an ensemble that already exists there")


def main(args: argparse.Namespace) -> int:
    path = build_ensemble(list(args.member), args.out, force=args.force)
    print(f"wrote {path} and {path.parent / MANIFEST}")
    print(f"next: emostream evaluate --model {path} --data ... ; emostream export --model {path} --data ... --out ...")
    return 0
