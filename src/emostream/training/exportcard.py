"""The model card ``emostream export`` writes, and the summary it prints of what it wrote."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from emostream.infra.emotions import EMOTIONS
from emostream.infra.modelcard import CARD_FILE, ModelCard
from emostream.training.provenance import metrics_section, training_section


def card_body(
    card: ModelCard, model: Path, report: Path | None, tta: str, versions: tuple[str, str],
    tflite: dict[str, dict[str, Any]], serve_tflite: str | None, license_text: str | None, source: str | None,
) -> dict[str, Any]:
    """The card of an exported folder; ``versions`` are Keras's and TensorFlow's."""
    training = training_section(model)
    body: dict[str, Any] = {
        "name": card.name,
        "version": card.version,
        "classes": list(EMOTIONS),
        "input": {"width": card.width, "height": card.height, "color": card.color},
        "preprocessing": {"scale": card.scale, "offset": card.offset},
        "files": {"keras": card.files["keras"]},
        "training": training,
        "metrics": metrics_section(report, training["source_sha256"], tta) if report else {},
        "exported": {"at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "tensorflow": versions[1], "keras": versions[0]},
    }
    if serve_tflite:
        body["files"]["tflite"] = tflite[serve_tflite]["file"]
        body["tflite_variants"] = tflite
    body.update({k: v for k, v in (("license", license_text), ("source", source), ("tta", tta)) if v})
    return body


def format_summary(card: ModelCard) -> str:
    """What was written, with sizes, the served files and the TFLite agreement."""
    served = set(card.files.values())
    lines = [f"exported {card.label} to {card.folder}"]
    rows: list[tuple[str, str]] = []
    if "keras" in card.files:
        rows.append((card.files["keras"], "keras"))
    for variant, entry in card.extra.get("tflite_variants", {}).items():
        note = f"tflite {variant}"
        if "agreement_with_keras" in entry:
            note += f", same label as keras on {entry['agreement_with_keras']:.1%} of {entry['checked_on']} training faces"
        rows.append((entry["file"], note))
    for file, note in rows:
        size = (card.folder / file).stat().st_size / 1e6
        lines.append(f"  {file:<20} {size:7.2f} MB  {note}{'  (served)' if file in served else ''}")
    metrics = card.extra.get("metrics") or {}
    scores = f"accuracy {metrics['accuracy']:.4f}, macro F1 {metrics['macro_f1']:.4f}" if metrics else "no metrics (pass --report)"
    plus = card.extra.get("metrics_ferplus") or {}
    if plus:
        scores += f"; FER+ agreement {plus['accuracy']:.4f} on {plus['samples']} faces"
    lines.append(f"  {CARD_FILE:<20} input {card.width}x{card.height} {card.color}, pixels*{card.scale:.6g}{card.offset:+g}; {scores}")
    return "\n".join(lines)
