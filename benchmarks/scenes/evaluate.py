"""Score what the pipeline (or the detector alone) reported on a clip against its ground truth.

Matching, per frame: a reported box matches a ground-truth face when the box's
centre lies inside the face box (FER's 48x48 square, which is larger than the
part of the face a detector outlines, so IoU would punish box conventions
rather than misses); among several candidates the nearest centres win
(Hungarian assignment). A box whose centre lies in an "ignore" region (a face
more than half hidden) counts for nothing; any other unmatched box is a false
face. A track "holds two people" when more than :data:`MIXED_SHARE` of its
matched faces belong to people other than its most frequent one, and, counted
strictly, "shares" when any of its faces belongs to a second person. IDF1 is
motmetrics' with the same matching rule as its distance gate; "IDF1 of found
faces" leaves out the faces nothing was reported on, so it says what the
tracker did with what detection and confirmation let through.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

BANDS: tuple[tuple[int, int], ...] = ((24, 32), (32, 64), (64, 128), (128, 301))
MIXED_SHARE = 0.10


@dataclass(frozen=True)
class Report:
    """One reported face: box [x, y, w, h], track id and emotion label where the pipeline gives them."""

    box: tuple[float, float, float, float]
    track: int | None = None
    label: str | None = None


@dataclass
class Score:
    frames: int = 0
    seconds: float = 0.0
    faces: dict[int, int] = field(default_factory=lambda: Counter())  # band index -> ground-truth faces
    found: dict[int, int] = field(default_factory=lambda: Counter())  # band index -> matched
    labelled: int = 0  # matched faces that carry a label
    agreed: int = 0  # ... whose label is the FER+ majority
    false_faces: int = 0
    idf1: float | None = None
    tracks: int = 0
    mixed: int = 0
    idf1_found: float | None = None  # IDF1 over the faces something was reported on
    shared: int = 0  # tracks holding any face of a second person
    original_agreed: int = 0  # labelled matched faces whose original 48x48 FER face the model alone reads as the majority
    people: dict[str, list[int]] = field(default_factory=dict)  # person -> [agreed, labelled] (one clip's; not merged)

    def recall(self, lo: int = 0, hi: int = 10_000) -> float | None:
        keys = [k for k, (a, b) in enumerate(BANDS) if a >= lo and b <= hi + 1]
        total = sum(self.faces[k] for k in keys)
        return sum(self.found[k] for k in keys) / total if total else None

    def merge(self, other: Score) -> Score:
        out = Score(self.frames + other.frames, self.seconds + other.seconds, Counter(self.faces) + Counter(other.faces),
                    Counter(self.found) + Counter(other.found), self.labelled + other.labelled, self.agreed + other.agreed,
                    self.false_faces + other.false_faces, None, self.tracks + other.tracks, self.mixed + other.mixed,
                    None, self.shared + other.shared, self.original_agreed + other.original_agreed)
        return out


def band(size: float) -> int:
    return next((k for k, (lo, hi) in enumerate(BANDS) if lo <= size < hi), 0 if size < BANDS[0][0] else len(BANDS) - 1)


def _inside(box: tuple[float, ...], region: list[float]) -> bool:
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    return region[0] <= cx <= region[0] + region[2] and region[1] <= cy <= region[1] + region[3]


def match_frame(truth: list[dict[str, Any]], reports: list[Report]) -> list[tuple[int, int]]:
    """(truth index, report index) pairs: centre inside the face box, nearest centres first."""
    if not truth or not reports:
        return []
    cost = np.full((len(truth), len(reports)), 1e9)
    for i, face in enumerate(truth):
        fx, fy, fw, fh = face["box"]
        for j, rep in enumerate(reports):
            if _inside(rep.box, face["box"]):
                cost[i, j] = np.hypot(rep.box[0] + rep.box[2] / 2 - fx - fw / 2, rep.box[1] + rep.box[3] / 2 - fy - fh / 2)
    rows, cols = linear_sum_assignment(cost)
    return [(int(i), int(j)) for i, j in zip(rows, cols, strict=True) if cost[i, j] < 1e9]


def score_clip(meta: dict[str, Any], reports: list[list[Report]], tracked: bool, originals: dict[int, str] | None = None) -> Score:
    """The clip's score; ``reports[f]`` are the faces reported on frame f (empty where none or not analysed).

    ``originals`` (FER row -> the model's label on the original 48x48 face) adds the model-alone agreement
    on the same matched faces, the ceiling a front end that loses nothing would reach.
    """
    score = Score(frames=len(reports), seconds=meta["frames"] / meta["fps"])
    per_track: dict[int, Counter[str]] = defaultdict(Counter)
    acc = _accumulator() if tracked else None
    found_acc = _accumulator() if tracked else None
    for f, reps in enumerate(reports):
        truth, ignore = meta["faces"][f], meta["ignore"][f]
        pairs = match_frame(truth, reps)
        matched = {j for _, j in pairs}
        for i, j in pairs:
            if reps[j].label is not None:
                agreed = reps[j].label == truth[i]["label"]
                score.labelled += 1
                score.agreed += agreed
                score.original_agreed += bool(originals and originals.get(truth[i]["row"]) == truth[i]["label"])
                tally = score.people.setdefault(truth[i]["id"], [0, 0])
                tally[0], tally[1] = tally[0] + agreed, tally[1] + 1
            track = reps[j].track
            if track is not None:
                per_track[track][truth[i]["id"]] += 1
        for face in truth:
            score.faces[band(face["box"][2])] += 1
        for i, _ in pairs:
            score.found[band(truth[i]["box"][2])] += 1
        kept = [j for j in range(len(reps)) if j in matched or not any(_inside(reps[j].box, r) for r in ignore)]
        score.false_faces += sum(1 for j in kept if j not in matched)
        if acc is not None and found_acc is not None:
            _update(acc, truth, [reps[j] for j in kept], f)
            _update(found_acc, [truth[i] for i, _ in pairs], [reps[j] for j in kept], f)
    if tracked:
        score.tracks = len({r.track for reps in reports for r in reps if r.track is not None})
        score.mixed = sum(1 for people in per_track.values() if 1 - max(people.values()) / sum(people.values()) > MIXED_SHARE)
        score.shared = sum(1 for people in per_track.values() if len(people) > 1)
        score.idf1 = _idf1(acc) if meta["faces"] and any(meta["faces"]) else None
        score.idf1_found = _idf1(found_acc) if score.found and sum(score.found.values()) else None
    return score


def _accumulator() -> Any:
    import motmetrics as mm

    return mm.MOTAccumulator(auto_id=False)


def _update(acc: Any, truth: list[dict[str, Any]], reps: list[Report], frame: int) -> None:
    reps = [r for r in reps if r.track is not None]
    dist = np.full((len(truth), len(reps)), np.nan)
    for i, face in enumerate(truth):
        fx, fy, fw, fh = face["box"]
        for j, rep in enumerate(reps):
            if _inside(rep.box, face["box"]):
                dist[i, j] = np.hypot(rep.box[0] + rep.box[2] / 2 - fx - fw / 2, rep.box[1] + rep.box[3] / 2 - fy - fh / 2) / fw
    acc.update([face["row"] for face in truth], [r.track for r in reps], dist, frameid=frame)


def _idf1(acc: Any) -> float | None:
    import motmetrics as mm

    summary = mm.metrics.create().compute(acc, metrics=["idf1"], name="clip")
    value = float(summary["idf1"].iloc[0])
    return None if np.isnan(value) else value


def paired_cost(upright: dict[Any, Any], rolled: dict[Any, Any], rounds: int = 2000) -> tuple[int, float, float, float]:
    """(people, points, 90 % interval): agreement upright minus rolled over the people seen in both.

    Each argument maps a person to (agreeing, labelled) face-frames; each person weighs as much as their
    face-frames at each roll; the interval resamples people (seeded, so a report is reproducible).
    """
    both = sorted(set(upright) & set(rolled))
    if not both:
        return 0, float("nan"), float("nan"), float("nan")
    ha, na = (np.array([float(upright[p][k]) for p in both]) for k in (0, 1))
    hb, nb = (np.array([float(rolled[p][k]) for p in both]) for k in (0, 1))
    draws = np.random.default_rng(23).integers(0, len(both), (rounds, len(both)))
    costs = (ha[draws].sum(1) / na[draws].sum(1) - hb[draws].sum(1) / nb[draws].sum(1)) * 100
    cost = (ha.sum() / na.sum() - hb.sum() / nb.sum()) * 100
    return len(both), float(cost), float(np.percentile(costs, 5)), float(np.percentile(costs, 95))
