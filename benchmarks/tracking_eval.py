"""Run a tracker over a clip with ground-truth identities and score it with motmetrics (IDF1, ID switches, MOTA).

The clips are ``tests/data/tracking/*.mp4`` (made by
``scripts/make_tracking_clips.py``): the real detector runs on every analysed
frame once, and each tracker gets the same detections, so the scores compare
trackers, not detector luck. A detection counts for a ground-truth face at
IoU >= 0.5 (the MOTChallenge convention).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emostream.config import DetectorConfig
from emostream.detector import Detection, make_detector
from emostream.ingest.sources import VideoSource
from emostream.ingest.tracking.geometry import Box, iou
from emostream.ingest.tracking.tracker import Tracker, TrackerParams

CLIPS = Path(__file__).resolve().parents[1] / "tests" / "data" / "tracking"
SCENARIOS = ("swap", "crossing", "occlusion", "leave_return", "scale")
LOW_SCORE, MIN_SCORE = 0.3, 0.5  # the defaults of tracker.low_score and detector.min_score
MATCH_IOU = 0.5


@dataclass
class Clip:
    name: str
    frames: list[np.ndarray]
    truth: list[list[dict[str, Any]]]
    partial: list[list[dict[str, Any]]]  # faces less than half visible: "don't care" regions
    fps: float
    detections: list[list[Detection]] = field(default_factory=list)


@dataclass
class Run:
    """What a tracker reported: (box, track id) per analysed frame, and the time it took."""

    indices: list[int]
    hyps: list[list[tuple[Box, int]]]
    seconds: float
    faces: int


def load_clip(name: str, folder: Path = CLIPS) -> Clip:
    path = folder / f"{name}.mp4"
    sidecar = json.loads(path.with_suffix(".json").read_text())
    frames = [frame.image for frame in VideoSource(str(path)).frames()]
    if len(frames) != sidecar["frames"]:
        raise ValueError(f"{path}: {len(frames)} frames decoded, the sidecar lists {sidecar['frames']}")
    return Clip(name, frames, sidecar["faces"], sidecar.get("partial") or [[] for _ in frames], float(sidecar["fps"]))


def detect(clip: Clip) -> Clip:
    """Run BlazeFace (short range, down to the low-score threshold) on every frame once."""
    with make_detector(DetectorConfig(backend="mediapipe", mediapipe_model="short", min_score=LOW_SCORE)) as detector:
        clip.detections = [detector.detect(frame) for frame in clip.frames]
    return clip


def run_new(clip: Clip, params: TrackerParams, step: int = 1) -> Run:
    """The identity-aware tracker, fed as ingest feeds it (confident and low-score boxes apart, session time in s)."""
    tracker = Tracker(params)
    indices = list(range(0, len(clip.frames), step))
    hyps, spent, faces = [], 0.0, 0
    for index in indices:
        dets = clip.detections[index]
        sure = [d.box for d in dets if d.score >= MIN_SCORE]
        low = [d.box for d in dets if d.score < MIN_SCORE]
        began = time.perf_counter()
        ids = tracker.track(clip.frames[index], sure, low, index / clip.fps)
        spent += time.perf_counter() - began
        faces += len(dets)
        hyps.append([(box, track) for box, track in zip(sure + low, ids, strict=True) if track is not None])
    return Run(indices, hyps, spent, faces)


def run_carried(clip: Clip, params: TrackerParams, interval: int, min_match: float = 0.6) -> Run:
    """As ingest with ``detector.interval``: detections on every ``interval``-th frame, tracks carried between (``tracking/carry.py``)."""
    from emostream.ingest.tracking import carry
    from emostream.ingest.tracking.detections import track_faces

    tracker = Tracker(params)
    indices = list(range(len(clip.frames)))
    hyps, spent, faces = [], 0.0, 0
    for index in indices:
        frame, now = clip.frames[index], index / clip.fps
        began = time.perf_counter()
        if index % interval:
            found = carry.carry(tracker, frame, now, "bgr", min_match)
        else:
            found = track_faces(tracker, frame, clip.detections[index], MIN_SCORE, now)
            filled = carry.fill(tracker, frame, now, "bgr", min_match, clip.detections[index], found)
            found += filled
            carry.remember(tracker, frame, found, "bgr", frozenset(t for _, t in filled))
        spent += time.perf_counter() - began
        faces += len(found)
        hyps.append([(d.box, track) for d, track in found])
    return Run(indices, hyps, spent, faces)


def run_old(clip: Clip, step: int = 1) -> Run:
    """The position-only tracker as ingest used it: confident boxes only."""
    from benchmarks.position_tracker import PositionTracker

    tracker = PositionTracker()
    indices = list(range(0, len(clip.frames), step))
    hyps, spent, faces = [], 0.0, 0
    for index in indices:
        sure = [d.box for d in clip.detections[index] if d.score >= MIN_SCORE]
        began = time.perf_counter()
        ids = tracker.update(sure)
        spent += time.perf_counter() - began
        faces += len(sure)
        hyps.append(list(zip(sure, ids, strict=True)))
    return Run(indices, hyps, spent, faces)


def truth_boxes(clip: Clip, index: int) -> list[tuple[str, Box]]:
    return [(face["id"], _box(face["box"])) for face in clip.truth[index]]


def _box(values: list[float]) -> Box:
    return round(values[0]), round(values[1]), round(values[2]), round(values[3])


def _boxes(faces: list[dict[str, Any]]) -> list[Box]:
    return [_box(face["box"]) for face in faces]


def _mostly_inside(box: Box, region: Box) -> bool:
    """At least half of ``box`` lies in ``region`` (how MOTChallenge drops detections in "don't care" regions)."""
    x, y, w, h = box
    rx, ry, rw, rh = region
    ix = max(0, min(x + w, rx + rw) - max(x, rx))
    iy = max(0, min(y + h, ry + rh) - max(y, ry))
    return ix * iy >= 0.5 * w * h


def score(clip: Clip, run: Run) -> dict[str, float]:
    """IDF1, identity switches, MOTA (motmetrics), and how many tracks mixed people."""
    import motmetrics as mm

    acc = mm.MOTAccumulator(auto_id=True)
    number: dict[str, int] = {}  # motmetrics wants numeric ids
    for index, all_hyps in zip(run.indices, run.hyps, strict=True):
        truth = truth_boxes(clip, index)
        hyps = [h for h in all_hyps if not any(_mostly_inside(h[0], p) for p in _boxes(clip.partial[index]))]
        dist = np.full((len(truth), len(hyps)), np.nan)
        for i, (_, tbox) in enumerate(truth):
            for j, (hbox, _) in enumerate(hyps):
                overlap = iou(tbox, hbox)
                if overlap >= MATCH_IOU:
                    dist[i, j] = 1.0 - overlap
        acc.update([number.setdefault(person, len(number) + 1) for person, _ in truth], [track for _, track in hyps], dist)
    summary = mm.metrics.create().compute(acc, metrics=["idf1", "num_switches", "mota", "num_unique_objects"], name=clip.name)
    people = identities(clip, run)
    mixed = sum(1 for who in people.values() if len(who) > 1)
    return {
        "idf1": float(summary["idf1"].iloc[0]),
        "switches": int(summary["num_switches"].iloc[0]),
        "mota": float(summary["mota"].iloc[0]),
        "tracks": len(people),
        "mixed": mixed,
    }


def identities(clip: Clip, run: Run) -> dict[int, set[str]]:
    """Track id -> the people whose faces it was given (by best overlap, IoU >= 0.5)."""
    out: dict[int, set[str]] = {}
    for index, hyps in zip(run.indices, run.hyps, strict=True):
        for person, tbox in truth_boxes(clip, index):
            best = max(hyps, key=lambda h: iou(tbox, h[0]), default=None)
            if best is not None and iou(tbox, best[0]) >= MATCH_IOU:
                out.setdefault(best[1], set()).add(person)
    return out


def tracks_of(clip: Clip, run: Run) -> dict[str, list[int]]:
    """Person -> the track ids their faces got over time (a repeat of the previous id is not listed again)."""
    out: dict[str, list[int]] = {}
    for index, hyps in zip(run.indices, run.hyps, strict=True):
        for person, tbox in truth_boxes(clip, index):
            best = max(hyps, key=lambda h: iou(tbox, h[0]), default=None)
            seq = out.setdefault(person, [])
            if best is not None and iou(tbox, best[0]) >= MATCH_IOU and (not seq or seq[-1] != best[1]):
                seq.append(best[1])
    return out


Runner = Callable[[Clip], Run]
