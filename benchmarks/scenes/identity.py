"""Identity on the scene clips without Redis: what the appearance descriptor separates, and the tracker replayed.

    python -m benchmarks.scenes.identity --split tune [--only a,b] [--config F]

For calibrating ``tracker.appearance_distance`` and ``tracker.reid_distance``
on the ``tune`` split (FER2013 Training faces), then reporting on ``test``.
The detector runs once per clip (its boxes are cached beside the clip, per
detector configuration); each detection whose centre lies in a ground-truth
face gets that person. Two measurements:

- **separation**: cosine distances of descriptors of the same person (frames
  apart in one clip) and of different people (in one clip, and the person who
  replaces another in the same place), against the thresholds;
- **replay**: the tracker (``track_faces``, as ingest calls it, with the face
  check of ``detector.check``) over every frame's detections; IDF1 over all faces (misses count) and over the faces the
  detector found (what the tracker can be blamed for), and tracks holding two
  people (the benchmark's rule, :data:`benchmarks.scenes.evaluate.MIXED_SHARE`,
  and strictly: any face of a second person).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.markdown import num, table
from benchmarks.scenes.detect import decode
from benchmarks.scenes.evaluate import Report, match_frame, score_clip
from benchmarks.scenes.faces import SPLITS
from benchmarks.scenes.generate import load_truth
from emostream.detector import Detection
from emostream.ingest.tracking import appearance
from emostream.ingest.tracking.detections import confident_from, track_faces
from emostream.ingest.tracking.geometry import touches_edge
from emostream.ingest.tracking.tracker import Tracker, TrackerParams

PERSON_CLIPS = ("medium_640", "roll_0", "roll_15", "roll_30", "blur", "jpeg_q15", "crf_38", "dark", "bright", "gray", "swap_colour",
                "swap_gray", "leave_return", "leave_return_gray", "crossing", "crossing_gray", "large_640", "mixed_720")


def detections(path: Path, config: Path | None, frames: list[np.ndarray]) -> list[list[Detection]]:
    """Every frame's detections (RGB frames in), as ingest asks for them (down to ``tracker.low_score``, faces
    smaller than ``detector.min_face_px`` left out), cached beside the clip per detector configuration."""
    from emostream.config import load_config
    from emostream.detector import make_detector
    from emostream.ingest.tracking.detections import detector_config

    full = load_config(config)
    cfg = detector_config(full.detector, full.tracker)
    tag = hashlib.sha1(cfg.model_dump_json().encode()).hexdigest()[:10]
    cache = path.with_name(f"{path.stem}.detections-{tag}-kp.json")  # with keypoints: the face check needs them

    def detection(d: list[Any]) -> Detection:
        keypoints = tuple((float(x), float(y)) for x, y in d[5]) if d[5] is not None else None
        return Detection(int(d[0]), int(d[1]), int(d[2]), int(d[3]), float(d[4]), keypoints=keypoints)

    if cache.is_file():
        return [[detection(d) for d in frame if min(d[2], d[3]) >= cfg.min_face_px] for frame in json.loads(cache.read_text())]
    found: list[list[Detection]] = []
    with make_detector(cfg) as detector:
        for rgb in frames:
            image = rgb if detector.colour == "rgb" else np.ascontiguousarray(rgb[:, :, ::-1])
            found.append(detector.detect_native(image))
    cache.write_text(json.dumps([[[d.x, d.y, d.w, d.h, d.score, d.keypoints] for d in frame] for frame in found]))
    return [[d for d in frame if min(d.w, d.h) >= cfg.min_face_px] for frame in found]


def _people(meta: dict[str, Any], dets: list[list[Detection]], min_score: float) -> list[list[tuple[str, Detection]]]:
    """Per frame: (person id, detection) for the confident detections that match a ground-truth face."""
    out = []
    for f, frame_dets in enumerate(dets):
        truth = meta["faces"][f]
        sure = [d for d in frame_dets if d.score >= min_score]
        pairs = match_frame(truth, [Report(tuple(map(float, d.box))) for d in sure])  # type: ignore[arg-type]
        out.append([(truth[i]["id"], sure[j]) for i, j in pairs])
    return out


def separation(frames: list[np.ndarray], people: list[list[tuple[str, Detection]]], stride: int = 3) -> tuple[list[float], list[float]]:
    """(same-person distances, different-people distances) of one clip's matched, whole faces."""
    height, width = frames[0].shape[:2]
    by_person: dict[str, list[np.ndarray]] = {}
    for f in range(0, len(frames), stride):
        for person, d in people[f]:
            if not touches_edge(d.box, width, height):
                by_person.setdefault(person, []).append(appearance.describe(frames[f], d.box, "rgb"))
    same = [appearance.distance(a, b) for feats in by_person.values() for a, b in itertools.combinations(feats, 2)]
    diff = [appearance.distance(a, b) for p, q in itertools.combinations(by_person, 2) for a in by_person[p] for b in by_person[q]]
    return same, diff


def replay(meta: dict[str, Any], frames: list[np.ndarray], dets: list[list[Detection]], params: TrackerParams,
           min_score: float, low_score: float, check: Any = None) -> tuple[dict[str, Any], float]:
    """(scores, µs of tracking per face): every frame through the tracker as ingest calls it (with its face ``check``)."""
    tracker, reports, spent, faces = Tracker(params), [], 0.0, 0
    for f, rgb in enumerate(frames):
        kept = [d for d in dets[f] if d.score >= low_score]
        began = time.perf_counter()
        published = track_faces(tracker, rgb, kept, min_score, f / meta["fps"], "rgb", check)
        spent += time.perf_counter() - began
        faces += len(kept)
        reports.append([Report(tuple(map(float, d.box)), track) for d, track in published])  # type: ignore[arg-type]
    reports += [[] for _ in range(meta["frames"] - len(reports))]
    every = score_clip(meta, reports, tracked=True)
    found_meta = {**meta, "faces": [[meta["faces"][f][i] for i, _ in match_frame(meta["faces"][f], reps)] for f, reps in enumerate(reports)]}
    found = score_clip(found_meta, reports, tracked=True)
    people: dict[int, set[str]] = {}
    for f, reps in enumerate(reports):
        for i, j in match_frame(meta["faces"][f], reps):
            people.setdefault(reps[j].track, set()).add(meta["faces"][f][i]["id"])  # type: ignore[arg-type]
    strict = sum(1 for who in people.values() if len(who) > 1)
    scores = {"idf1": every.idf1, "idf1_found": found.idf1, "tracks": every.tracks, "mixed": every.mixed, "strict": strict}
    return scores, spent / max(faces, 1) * 1e6


def run(split: str, only: str | None, config: Path | None) -> str:
    from benchmarks.scenes.__main__ import clips
    from emostream.config import load_config
    from emostream.detector import make_check

    cfg = load_config(config)
    check = make_check(cfg.detector)
    t = cfg.tracker
    params = TrackerParams(t.iou_threshold, t.max_missed, t.max_distance, t.appearance_distance, t.reid_window_s, t.reid_distance,
                           t.confirm_hits, t.confirm_score, t.check_tries)
    rows, same_all, diff_all, costs = [], [], [], []
    for path in clips(split, only or ",".join(PERSON_CLIPS)):
        meta, frames = load_truth(path), decode(path)
        dets = detections(path, config, frames)
        people = _people(meta, dets, confident_from(cfg.detector))
        same, diff = separation(frames, people)
        same_all += same
        diff_all += diff
        s, us = replay(meta, frames, dets, params, confident_from(cfg.detector), t.low_score, check)
        costs.append(us)
        rows.append([path.stem, num(s["idf1"], 3), num(s["idf1_found"], 3), s["tracks"], s["mixed"], s["strict"],
                     num(float(np.percentile(same, 99)), 3) if same else "—", num(min(diff), 3) if diff else "—"])
    head = ["clip", "IDF1", "IDF1 of found faces", "tracks", "tracks holding 2 people", "tracks with any face of a 2nd person",
            "same person p99", "different people min"]
    lines = [table(head, rows), ""]
    if same_all and diff_all:
        lines.append(
            f"same person: {len(same_all)} pairs, median {np.median(same_all):.3f}, p99 {np.percentile(same_all, 99):.3f}, "
            f"p99.9 {np.percentile(same_all, 99.9):.3f}, max {max(same_all):.3f}; different people: {len(diff_all)} pairs, "
            f"min {min(diff_all):.3f}, p0.1 {np.percentile(diff_all, 0.1):.3f}, p1 {np.percentile(diff_all, 1):.3f}, "
            f"median {np.median(diff_all):.3f}; thresholds: appearance {t.appearance_distance}, reid {t.reid_distance}; "
            f"tracking per face {np.median(costs):.0f} µs (median over clips)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scenes.identity", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", choices=sorted(SPLITS), default="tune")
    parser.add_argument("--config", type=Path)
    parser.add_argument("--only")
    args = parser.parse_args(argv)
    print(run(args.split, args.only, args.config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
