"""Detector sweep: recall by face size, false faces on faceless frames, score distributions, and ms per frame.

``python -m benchmarks.detectors [--quick]`` prints markdown tables. Each
detector runs at min_score 0.3 (the tracker's low_score, so the scores of
weak hits are seen); a face counts as found at the configured 0.5 when a box
scoring >= 0.5 overlaps its true box by IoU >= 0.3. Timing: one thread
(``taskset`` the process for a clean figure), the best of ``--rounds`` rounds
(detectors interleaved) of the mean ms per frame over 32 frames with one
96 px face; "batch 8" hands the LiteRT detector eight frames per
``detect_many``.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from benchmarks.detector_material import FACE_SIZES, FRAME_SIZES, Frame, face_frames, faceless_frames
from emostream.config import DetectorConfig
from emostream.detector import Detection, Detector, make_detector
from emostream.ingest.tracking.geometry import iou

LOW, MIN = 0.3, 0.5
MODES: dict[str, DetectorConfig] = {
    "mediapipe short": DetectorConfig(backend="mediapipe", mediapipe_model="short", min_score=LOW),
    "mediapipe full": DetectorConfig(backend="mediapipe", mediapipe_model="full", min_score=LOW),
    "litert short": DetectorConfig(backend="blazeface", range="short", min_score=LOW),
    "litert full": DetectorConfig(backend="blazeface", range="full", min_score=LOW),
    "litert auto (no tiles)": DetectorConfig(backend="blazeface", range="auto", tile_px=4096, min_score=LOW),
    "litert auto (tiles 720)": DetectorConfig(backend="blazeface", range="auto", tile_px=720, min_score=LOW),
    "litert auto (tiles 480)": DetectorConfig(backend="blazeface", range="auto", tile_px=480, min_score=LOW),
    "litert auto (tiles 400)": DetectorConfig(backend="blazeface", range="auto", tile_px=400, min_score=LOW),
}


def run(detector: Detector, frames: list[Frame]) -> list[list[Detection]]:
    return [detector.detect_native(f.image) for f in frames]


@dataclass
class Stats:
    found: dict[tuple[int, int], int]  # (frame width, face size) -> frames whose face was found
    true: np.ndarray  # best score on each true face
    false: np.ndarray  # every box that is no face
    false_face_frames: int  # boxes >= MIN that are no face, in frames with a face
    false_faceless: list[tuple[str, float]]  # (frame, score) of boxes >= MIN on faceless frames


def sweep(detector: Detector, with_faces: list[Frame], faceless: list[Frame]) -> Stats:
    found: dict[tuple[int, int], int] = defaultdict(int)
    scores_true: list[float] = []
    scores_false: list[float] = []
    false_in_face_frames = 0
    for frame, dets in zip(with_faces, run(detector, with_faces), strict=True):
        key = (frame.image.shape[1], frame.size)
        matched = [d for d in dets if iou(d.box, frame.truth[0]) >= 0.3]
        if any(d.score >= MIN for d in matched):
            found[key] += 1
        if matched:
            scores_true.append(max(d.score for d in matched))
        extra = [d for d in dets if d not in matched]
        scores_false.extend(d.score for d in extra)
        false_in_face_frames += sum(d.score >= MIN for d in extra)
    false_faceless: list[tuple[str, float]] = []
    for frame, dets in zip(faceless, run(detector, faceless), strict=True):
        scores_false.extend(d.score for d in dets)
        false_faceless.extend((frame.name, round(d.score, 2)) for d in dets if d.score >= MIN)
    return Stats(found, np.array(scores_true), np.array(scores_false), false_in_face_frames, false_faceless)


def timing(detector: Detector, frames: list[np.ndarray], batch: int) -> float:
    """Mean ms per frame over ``frames``, ``batch`` frames per call (1: ``detect_native``)."""
    start = time.perf_counter()
    if batch > 1:
        for i in range(0, len(frames), batch):
            detector.detect_many(frames[i : i + batch])  # type: ignore[attr-defined]
    else:
        for frame in frames:
            detector.detect_native(frame)
    return (time.perf_counter() - start) / len(frames) * 1e3


def timings(detectors: dict[str, Detector], timed: dict[int, list[np.ndarray]], rounds: int) -> dict[str, dict[int, float]]:
    """Best of ``rounds`` per detector and frame size, the detectors interleaved in each round so load on a shared box hits all alike."""
    variants = [(name, det, 1) for name, det in detectors.items()]
    variants += [(f"{name}, batch 8", det, 8) for name, det in detectors.items() if hasattr(det, "detect_many")]
    best: dict[str, dict[int, float]] = {label: {} for label, _, _ in variants}
    for _ in range(rounds):
        for label, det, batch in variants:
            for width, frames in timed.items():
                ms = timing(det, frames, batch)
                best[label][width] = min(best[label].get(width, ms), ms)
    return best


def tables(stats: dict[str, Stats], per_key: dict[tuple[int, int], int], times: dict[str, dict[int, float]], faceless_count: int) -> str:
    lines = ["### Recall at min_score 0.5 by face size (share of frames whose face is found)", ""]
    for width, height in FRAME_SIZES:
        lines += [f"{width}x{height} | " + " | ".join(f"{s} px" for s in FACE_SIZES), "---|" + "---|" * len(FACE_SIZES)]
        for name, st in stats.items():
            cells = [f"{st.found[(width, s)] / per_key[(width, s)]:.2f}" for s in FACE_SIZES]
            lines.append(f"{name} | " + " | ".join(cells))
        lines.append("")
    lines += [f"### False faces at min_score 0.5 ({faceless_count} faceless frames; and extra boxes in the face frames)", ""]
    lines += ["detector | on faceless frames | extra in face frames | which", "---|---|---|---"]
    for name, st in stats.items():
        which = ", ".join(f"{n} {s}" for n, s in st.false_faceless[:6])
        lines.append(f"{name} | {len(st.false_faceless)} | {st.false_face_frames} | {which}")
    lines += ["", "### Scores: best box on a true face vs every box that is no face (min_score 0.3)", ""]
    lines += ["detector | true faces: n, p5, p25, median | false: n, max, n >= 0.5, n >= 0.6, n >= 0.7", "---|---|---"]
    for name, st in stats.items():
        t, f = st.true, st.false
        tq = ", ".join(f"{q:.2f}" for q in np.percentile(t, [5, 25, 50])) if len(t) else "-"
        fq = f"{f.max():.2f}, {(f >= 0.5).sum()}, {(f >= 0.6).sum()}, {(f >= 0.7).sum()}" if len(f) else "-"
        lines.append(f"{name} | {len(t)}: {tq} | {len(f)}: {fq}")
    lines += ["", "### ms per frame (one 96 px face; best of rounds)", "", "detector | " + " | ".join(f"{w}x{h}" for w, h in FRAME_SIZES)]
    lines.append("---|" + "---|" * len(FRAME_SIZES))
    for name, row in times.items():
        lines.append(f"{name} | " + " | ".join(f"{row[w]:.2f}" for w, _ in FRAME_SIZES))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--modes", nargs="*", default=list(MODES))
    args = parser.parse_args(argv)
    with_faces, faceless = list(face_frames()), list(faceless_frames())
    per_key: dict[tuple[int, int], int] = defaultdict(int)
    for f in with_faces:
        per_key[(f.image.shape[1], f.size)] += 1
    stats: dict[str, Stats] = {}
    timed = {w: [f.image for f in with_faces if f.size == 96 and f.image.shape[1] == w] for w, _ in FRAME_SIZES}
    detectors = {name: make_detector(MODES[name]) for name in args.modes}
    for name, detector in detectors.items():
        stats[name] = sweep(detector, with_faces, faceless)
    times = timings(detectors, timed, args.rounds)
    for detector in detectors.values():
        detector.close()
    print(tables(stats, per_key, times, len(faceless)))



if __name__ == "__main__":
    main()
