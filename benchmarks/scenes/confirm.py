"""Detection plus tracking with confirmation, no Redis: sweep ``tracker.confirm_*`` on a split in one pass.

    PYTHONPATH=src:. python -m benchmarks.scenes.confirm --split tune --confirm 1:1.01,2:0.8,3:0.8 [--config FILE]

The face check (``detector.check``, ``detector/check.py``) applies as configured;
``EMOSTREAM_DETECTOR__CHECK=false`` (or a ``--config``) measures without it.

Each clip is decoded once and detected once (down to ``tracker.low_score``, as
ingest does); every ``hits:score`` setting then runs its own tracker on the
same detections, the way ``ingest/analyse.py`` does (boxes under
``detector.min_face_px`` skipped, ``track_faces``). What it reports is what
ingest would publish: recall, false faces on faceless clips, IDF1 and tracks,
without the classifier (no agreement figure) and without Redis, so settings
can be compared in the time of one detector-only run.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from benchmarks.scenes.__main__ import clips
from benchmarks.scenes.detect import decode
from benchmarks.scenes.evaluate import Report, Score, score_clip
from benchmarks.scenes.generate import load_truth


def sweep(paths: list[Path], settings: list[tuple[int, float]], config: Path | None) -> tuple[dict[tuple[int, float], Score], Score, float]:
    """Per setting the merged score over ``paths``; the detector's own score (every box, untracked); detector frames/s."""
    from emostream.config import load_config
    from emostream.detector import make_check, make_detector
    from emostream.ingest.tracking.detections import confident_from, detector_config, track_faces
    from emostream.ingest.tracking.tracker import Tracker, TrackerParams

    cfg = load_config(config)
    c, threshold = cfg.tracker, confident_from(cfg.detector)
    totals = {s: Score() for s in settings}
    raw, frames, spent = Score(), 0, 0.0
    check = make_check(cfg.detector)
    with make_detector(detector_config(cfg.detector, cfg.tracker)) as detector:
        for path in paths:
            meta = load_truth(path)
            trackers = {s: Tracker(TrackerParams(c.iou_threshold, c.max_missed, c.max_distance, c.appearance_distance, c.reid_window_s,
                                                 c.reid_distance, s[0], s[1], c.check_tries)) for s in settings}
            reports: dict[tuple[int, float], list[list[Report]]] = {s: [] for s in settings}
            plain: list[list[Report]] = []
            for f, rgb in enumerate(decode(path)):
                image = rgb if detector.colour == "rgb" else np.ascontiguousarray(rgb[:, :, ::-1])
                began = time.perf_counter()
                found = detector.detect_native(image)
                spent += time.perf_counter() - began
                frames += 1
                big = [d for d in found if min(d.w, d.h) >= cfg.detector.min_face_px]
                plain.append([Report((d.x, d.y, d.w, d.h)) for d in big if d.score >= threshold])
                for s, tracker in trackers.items():
                    tracked = track_faces(tracker, image, big, threshold, f / meta["fps"], detector.colour, check)
                    reports[s].append([Report((d.x, d.y, d.w, d.h), track) for d, track in tracked])
            pad = meta["frames"] - len(plain)
            raw = raw.merge(score_clip(meta, plain + [[] for _ in range(pad)], tracked=False))
            for s in settings:
                totals[s] = totals[s].merge(score_clip(meta, reports[s] + [[] for _ in range(pad)], tracked=True))
    return totals, raw, frames / spent if spent else 0.0


def line(name: str, score: Score, faceless: Score) -> str:
    minutes = faceless.seconds / 60
    per10 = faceless.false_faces / minutes * 10 if minutes else 0.0
    return (f"{name}: recall >=32 {score.recall(32):.3f} >=64 {score.recall(64):.3f}; false faces on faceless {faceless.false_faces} "
            f"({per10:.1f} per 10 min); false faces on face clips {score.false_faces - faceless.false_faces}; tracks {score.tracks}, "
            f"holding 2 people {score.mixed}")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scenes.confirm", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", default="tune")
    parser.add_argument("--config", type=Path)
    parser.add_argument("--only")
    parser.add_argument("--confirm", default="1:1.01,2:0.8,3:0.8", help="comma-separated hits:score settings")
    args = parser.parse_args()
    settings = [(int(h), float(s)) for h, s in (item.split(":") for item in args.confirm.split(","))]
    paths = clips(args.split, args.only)
    faceless_paths = [p for p in paths if p.stem.startswith("faceless")]
    faces, raw, fps = sweep([p for p in paths if p not in faceless_paths], settings, args.config)
    empty, raw_empty, _ = sweep(faceless_paths, settings, args.config) if faceless_paths else ({s: Score() for s in settings}, Score(), 0.0)
    print(f"detector frames/s (detection only) {fps:.1f}")
    print(line("detections, untracked", raw.merge(raw_empty), raw_empty))
    for s in settings:
        print(line(f"confirm_hits {s[0]} confirm_score {s[1]}", faces[s].merge(empty[s]), empty[s]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
