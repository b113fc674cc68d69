"""Classifier throughput: faces per second against batch size, per model and format.

Measures the classifier's own runtime (:func:`emostream.classifier.runtime.load_runtime`,
the code path the worker serves with) on random uint8 crops of the model's
input size, so the numbers are pure inference: no Redis, no decoding. Each
point is the median of a few timed rounds; the machine is usually shared, so
the median is steadier than the best and more honest.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.markdown import num, table, verdict
from benchmarks.models import Candidate, candidates, card_multiply_adds, packaged_names
from emostream.classifier.runtime import Runtime, load_runtime
from emostream.infra.cpufeatures import usable_cores

BATCH_SIZES = (1, 8, 32, 64, 128)
TARGET_FACES_S = 3000
TARGET_BATCH = 64
DEFAULT_TARGET_FACES_S = 1000  # the default model, in batched inference (issue 4)


@dataclass(frozen=True)
class Point:
    batch: int
    faces_s: float  # median over rounds
    best_faces_s: float
    ms_per_batch: float


@dataclass(frozen=True)
class Row:
    candidate: Candidate
    macs: int | None
    points: list[Point]
    threads: int

    def at(self, batch: int) -> Point | None:
        return next((p for p in self.points if p.batch == batch), None)


def time_batch(runtime: Runtime, crops: np.ndarray, seconds: float, rounds: int) -> Point:
    """Faces/s of repeated ``predict`` calls on one batch: at least 2 calls and ``seconds`` a round."""
    runtime.predict(crops)  # warm caches for this shape
    rates = []
    per_batch = []
    for _ in range(rounds):
        calls, began = 0, time.perf_counter()
        while calls < 2 or time.perf_counter() - began < seconds:
            runtime.predict(crops)
            calls += 1
        elapsed = time.perf_counter() - began
        rates.append(calls * len(crops) / elapsed)
        per_batch.append(elapsed / calls * 1000.0)
    return Point(len(crops), statistics.median(rates), max(rates), statistics.median(per_batch))


def measure(cands: Sequence[Candidate], batch_sizes: Sequence[int], seconds: float, rounds: int, threads: int = 0) -> list[Row]:
    rows = []
    macs_cache: dict[Path, int | None] = {}
    for cand in cands:
        if cand.card.folder not in macs_cache:
            macs_cache[cand.card.folder] = card_multiply_adds(cand.card)
        runtime = load_runtime(cand.card, cand.fmt, batch_max=max(batch_sizes), threads=threads)
        try:
            crops = np.random.default_rng(0).integers(0, 256, (max(batch_sizes), *cand.card.input_shape), dtype=np.uint8)
            points = [time_batch(runtime, crops[:size], seconds, rounds) for size in batch_sizes]
        finally:
            runtime.close()
        rows.append(Row(cand, macs_cache[cand.card.folder], points, runtime.threads))
    return rows


def _peak_gflops() -> float | None:
    """Theoretical fp32 peak of the usable cores: 2 FMA units x 8 lanes x 2 FLOP per cycle (AVX2)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    if " avx2" not in text or " fma" not in text:
        return None
    mhz = [float(line.split(":")[1]) for line in text.splitlines() if line.startswith("cpu MHz")]
    return usable_cores() * 32 * (max(mhz) / 1000.0) if mhz else None


def render(rows: list[Row], batch_sizes: Sequence[int], seconds: float, rounds: int) -> str:
    headers = ["model", "format", "M mult-adds / face", *[f"batch {b}" for b in batch_sizes], f"GFLOP/s at {TARGET_BATCH}"]
    body = []
    for row in rows:
        at = row.at(TARGET_BATCH)
        gflops = 2 * row.macs * at.faces_s / 1e9 if row.macs and at else None
        body.append(
            [row.candidate.label, row.candidate.format_label, num(row.macs / 1e6 if row.macs else None, 1)]
            + [num(p.faces_s) for p in row.points]
            + [num(gflops, 1)]
        )
    threads = sorted({row.threads for row in rows})
    lines = [
        "## Classifier throughput",
        "",
        "Faces per second of the classifier's runtime (`load_runtime`, the worker's own code path: fixed batch shapes, "
        "the model called directly, uint8 crops in) on random crops of each model's input size. Median of "
        f"{rounds} rounds of {seconds:g} s per point; {', '.join(map(str, threads))} inference thread(s). No Redis, no decoding.",
        "",
        table(headers, body),
        "",
    ]
    per_batch = [[row.candidate.label, row.candidate.format_label] + [num(p.ms_per_batch, 1) for p in row.points] for row in rows]
    per_batch_headers = ["model", "format", *[f"batch {b}" for b in batch_sizes]]
    lines += ["Milliseconds per forward pass (median):", "", table(per_batch_headers, per_batch), ""]
    lines += target_notes(rows)
    return "\n".join(lines) + "\n"


def default_model_note(rows: list[Row]) -> str:
    """The default model's best format at batch 64 against its 1,000 faces/s target."""
    from emostream.infra.modelcard import DEFAULT_MODEL

    measured = [row for row in rows if row.candidate.label == DEFAULT_MODEL and row.at(TARGET_BATCH)]
    what = f"Target (default model `{DEFAULT_MODEL}` at batch {TARGET_BATCH}, ≥ {DEFAULT_TARGET_FACES_S:,} faces/s)"
    if not measured:
        return f"{what}: not measured, the default model is not packaged."
    best = max(measured, key=lambda r: r.at(TARGET_BATCH).faces_s)  # type: ignore[union-attr]
    rate = best.at(TARGET_BATCH).faces_s  # type: ignore[union-attr]
    tta = " with flip TTA (two passes per face)" if best.candidate.card.tta == "flip" else ""
    return f"{what}: {verdict(rate >= DEFAULT_TARGET_FACES_S)}, {rate:,.0f} faces/s ({best.candidate.format_label}{tta})."


def target_notes(rows: list[Row]) -> list[str]:
    compact = [row for row in rows if row.candidate.label.startswith("compact") and row.at(TARGET_BATCH)]
    if not compact:
        return [default_model_note(rows), "Target (compact model, batch 64, ≥ 3,000 faces/s): not measured, no compact model present.", ""]
    best = max(compact, key=lambda r: r.at(TARGET_BATCH).faces_s)  # type: ignore[union-attr]
    rate = best.at(TARGET_BATCH).faces_s  # type: ignore[union-attr]
    lines = [
        default_model_note(rows),
        f"Target (compact model at batch {TARGET_BATCH}, ≥ {TARGET_FACES_S:,} faces/s): {verdict(rate >= TARGET_FACES_S)}, "
        f"{rate:,.0f} faces/s at best ({best.candidate.format_label}, {best.candidate.label}), "
        f"{rate / TARGET_FACES_S:.0%} of the target.",
    ]
    if rate < TARGET_FACES_S and best.macs:
        needed = TARGET_FACES_S * best.macs * 2 / 1e9
        peak = _peak_gflops()
        reason = f"The target needs {TARGET_FACES_S:,} × {best.macs / 1e6:.1f} M multiply-adds = {needed:,.0f} GFLOP/s"
        if peak:
            reason += (
                f"; the theoretical fp32 peak of the {usable_cores()} usable cores of this machine is about {peak:,.0f} GFLOP/s "
                "(2 FMA units × 8 lanes × 2 FLOP per cycle per core at the reported clock), before the other processes take their share"
            )
        if peak and needed > peak:
            reason += (
                ". Batching cannot close a gap in arithmetic: it needs a lighter architecture, int8 kernels with VNNI, more cores, or a GPU."
            )
        else:
            reason += (
                f". That is within this machine's reach ({needed / peak:.0%} of its peak); the shortfall comes from what else was running"
                " (see the load above): repeat on a quiet machine."
                if peak
                else "."
            )
        lines.append(reason)
    if any("untrained" in row.candidate.label for row in rows):
        lines.append(
            "The compact rows are an **untrained stand-in** (random weights, the architecture of "
            "`emostream.training.models.build_compact`): speed depends on the shapes, not the weights."
        )
    return [*lines, ""]


def serving_notes() -> list[str]:
    """The CPU's flags and which TFLite file ``classifier.format: auto`` serves of each packaged model here."""
    from emostream.classifier.format_choice import tflite_choice
    from emostream.infra.cpufeatures import describe as describe_cpu
    from emostream.infra.modelcard import load_card

    lines = [f"CPU: {describe_cpu()}. What `classifier.format: auto` serves on it (emostream.classifier.format_choice):", ""]
    for name in packaged_names():
        card = load_card(name)
        if "tflite" not in card.files:
            continue
        variant, why = tflite_choice(card)
        file = card.extra["tflite_variants"][variant]["file"] if variant else card.files["tflite"]
        lines.append(f"- `{name}`: `{file}`: {why}.")
    return [*lines, ""]


def run(quick: bool) -> str:
    seconds, rounds = (0.5, 2) if quick else (2.0, 3)
    with tempfile.TemporaryDirectory(prefix="emostream-bench-") as workdir:
        cands = candidates(Path(workdir), int8_stand_in=not quick)
        rows = measure(cands, BATCH_SIZES, seconds, rounds)
    return render(rows, BATCH_SIZES, seconds, rounds) + "\n" + "\n".join(serving_notes())
