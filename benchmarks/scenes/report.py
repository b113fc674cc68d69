"""The markdown of the "Scenes" section: per-condition tables, the faceless clips, the issue's targets."""

from __future__ import annotations

import statistics

from benchmarks.markdown import num, table, verdict
from benchmarks.scenes.evaluate import BANDS, MIXED_SHARE, Score, paired_cost
from benchmarks.scenes.measure import ClipResult, SplitResult


def _share(part: int, whole: int) -> str:
    return num(part / whole, 3) if whole else "—"


def _band(score: Score, k: int) -> str:
    return _share(score.found[k], score.faces[k])


def scene_table(result: SplitResult) -> str:
    rows = []
    for clip in result.scenes():
        s = clip.score
        rows.append([f"`{clip.name}`", sum(s.faces.values()), *(_band(s, k) for k in range(len(BANDS))), s.false_faces,
                     _share(s.agreed, s.labelled), _share(s.original_agreed, s.labelled), num(s.idf1, 3), num(s.idf1_found, 3), s.tracks, s.mixed, s.shared,
                     num(clip.frames_per_s, 1)])
    bands = [f"recall {lo}-{hi - 1 if hi == 301 else hi} px" for lo, hi in BANDS]
    headers = ["condition", "face-frames", *bands, "false faces", "FER+ agreement", "the same faces' originals", "IDF1", "IDF1 of found faces", "tracks",
               "tracks holding 2 people", "tracks with a face of a 2nd person", "analysed frames/s"]
    return table(headers, rows)


def faceless_table(result: SplitResult) -> tuple[str, float]:
    rows, minutes, false = [], 0.0, 0
    for clip in result.faceless():
        m = clip.score.seconds / 60
        minutes, false = minutes + m, false + clip.score.false_faces
        rows.append([f"`{clip.name}`", num(m, 1), clip.score.false_faces, num(clip.score.false_faces / m, 2), num(clip.score.false_faces / m * 10, 1)])
    per10 = false / minutes * 10 if minutes else 0.0
    rows.append(["**all**", num(minutes, 1), false, num(false / minutes if minutes else 0.0, 2), num(per10, 1)])
    return table(["clip", "minutes", "false faces", "per minute", "per 10 minutes"], rows), per10


def _agreement(clips: list[ClipResult]) -> float | None:
    labelled = sum(c.score.labelled for c in clips)
    return sum(c.score.agreed for c in clips) / labelled if labelled else None


def _original(clips: list[ClipResult]) -> float | None:
    labelled = sum(c.score.labelled for c in clips)
    return sum(c.score.original_agreed for c in clips) / labelled if labelled else None


def _roll_rows(result: SplitResult, study: tuple[int, float, float, float] | None) -> list[list[str]]:
    """Roll 30°'s cost: judged on the roll study's 600 people (``study``: people, cost, 90 % interval) where it was run;
    the roll sweep's clips (about 28 people) beside it, for reference."""
    rows = []
    if study is not None and study[0] > 0:
        people, cost, lo, hi = study
        rows.append([f"agreement lost at 30° roll, the roll study's {people} people found at both rolls (90 % interval)", "≤ 2 points",
                     f"{num(cost, 1)} ({num(lo, 1)} to {num(hi, 1)})", verdict(cost <= 2)])
    studied = bool(rows)  # the study judges; the clips' rows are then reference
    clips = {c.name: c for c in result.scenes() if c.name in ("roll_0", "roll_30")}
    if len(clips) < 2:
        return rows
    upright, tilted = clips["roll_0"], clips["roll_30"]
    a, b = _agreement([upright]), _agreement([tilted])
    if a is None or b is None:
        return rows
    cost = (a - b) * 100
    rows.append(["the roll sweep's clips, end to end: agreement lost at 30° roll (roll_0 − roll_30)", "≤ 2 points", num(cost, 1),
                 "(reference)" if studied else verdict(cost <= 2)])
    people, same, lo, hi = paired_cost(upright.score.people, tilted.score.people)
    if people:
        rows.append([f"the same, on the {people} people found at both rolls (90 % interval, people resampled)", "≤ 2 points",
                     f"{num(same, 1)} ({num(lo, 1)} to {num(hi, 1)})", "(reference)" if studied else verdict(same <= 2)])
    return rows


def targets(result: SplitResult, per10: float, roll_study: tuple[int, float, float, float] | None = None) -> list[list[str]]:
    """The issue's "done when" figures for this split, each with its verdict."""
    total = result.total(result.scenes())
    r32, r64 = total.recall(32), total.recall(64)
    agreement = _agreement(result.scenes())
    rows = [
        ["recall, faces ≥ 32 px", "≥ 0.97", num(r32, 3), verdict(r32 is not None and r32 >= 0.97)],
        ["recall, faces ≥ 64 px", "≥ 0.99", num(r64, 3), verdict(r64 is not None and r64 >= 0.99)],
        ["false faces per 10 minutes of faceless video", "≤ 1", num(per10, 1), verdict(per10 <= 1)],
        ["FER+ agreement of matched faces", "≥ 0.85", num(agreement, 3), verdict(agreement is not None and agreement >= 0.85)],
        ["the model alone on the same faces' original 48×48 FER crops (what a front end losing nothing would reach)", "(reference)",
         num(_original(result.scenes()), 3), ""],
    ]
    for gray in (False, True):
        clips = [c for c in result.scenes() if c.meta["gray"] == gray and c.score.idf1 is not None]
        low = min((c.score.idf1 for c in clips if c.score.idf1 is not None), default=None)
        mixed = sum(c.score.mixed for c in clips)
        rows.append([f"lowest IDF1 / tracks holding 2 people, {'gray' if gray else 'colour'} scenes", "≥ 0.95 / 0",
                     f"{num(low, 3)} / {mixed}", verdict(low is not None and low >= 0.95 and mixed == 0)])
        found = min((c.score.idf1_found for c in clips if c.score.idf1_found is not None), default=None)
        shared = sum(c.score.shared for c in clips)
        rows.append([f"the tracker's part: lowest IDF1 of found faces / tracks with a face of a 2nd person, {'gray' if gray else 'colour'}",
                     "≥ 0.95 / 0", f"{num(found, 3)} / {shared}", verdict(found is not None and found >= 0.95 and shared == 0)])
    rows += _roll_rows(result, roll_study)
    fps = [c.frames_per_s for c in result.scenes() if c.meta["width"] == 640]
    rows.append(["analysed frames/s, one 640×480 source (median over its clips)", "≥ today's", num(statistics.median(fps), 1) if fps else "—", "(reference)"])
    return rows


def _coverage(result: SplitResult) -> str:
    """Whether every frame of every clip was analysed and every session ended at its end of file."""
    short = [f"`{c.name}` ({c.analysed} of {c.meta['frames']})" for c in result.clips if c.analysed != c.meta["frames"]]
    ended = [f"`{c.name}` ({c.end_reason})" for c in result.clips if c.end_reason != "eof"]
    return (
        ("Every frame of every clip was analysed" if not short else f"Not every frame was analysed: {', '.join(short)}")
        + ("; every session ended `eof`." if not ended else f"; sessions not ended `eof`: {', '.join(ended)}.")
    )


def split_section(result: SplitResult, roll_study: tuple[int, float, float, float] | None = None) -> str:
    """One split's tables; ``roll_study``: its roll study's 30° cost (people, points, 90 % interval), which then judges roll."""
    faceless, per10 = faceless_table(result)
    return "\n".join([
        f"### Split `{result.split}` ({len(result.clips)} clips, measured in {result.seconds:.0f} s)",
        "",
        table(["figure", "target", "measured", ""], targets(result, per10, roll_study)),
        "",
        _coverage(result),
        "",
        scene_table(result),
        "",
        "Faceless clips (every face reported is a false face):",
        "",
        faceless,
    ])


METHOD = (
    "Clips generated by `benchmarks/scenes` (`python -m benchmarks.scenes --generate`) into `build/scenes/<split>/`: "
    "FER2013 faces with their FER+ majority label, each pasted on a soft-edged head-shaped region (skin-tinted in colour "
    "scenes, gray in gray ones) over generated or bundled backgrounds without faces; `tune` uses FER2013 Training faces, "
    "`test` PublicTest faces, `fresh` the PublicTest faces `test` did not draw (PrivateTest never); settings were chosen on "
    "`tune` and some read off `test`'s misses, none on `fresh`, whose figures are the honest estimate. 15 fps H.264 "
    "(CRF 20 unless the condition says otherwise); faceless clips 10 fps. Each clip is one file source of its own "
    "`emostream ingest` run against a private Redis, with a "
    "classifier and an aggregator running (default configuration, every frame analysed); faces are read back from "
    "the public `events` stream and matched to the ground truth per frame: a reported box matches a face when its "
    "centre lies inside the face's 48×48-derived box (nearest centres first); faces more than half hidden by a head in "
    "front are neither misses nor false faces. Recall is per face-frame, by the ground-truth face size. A track "
    f"\"holds 2 people\" when more than {MIXED_SHARE:.0%} of its matched faces belong to people other than its most "
    "frequent one; counted strictly, a track \"has a face of a 2nd person\" when any of its faces is someone else's. "
    "IDF1 from motmetrics with the same matching (it counts missed faces too, so a clip whose faces are "
    "not found scores 0 whatever the tracker does); \"IDF1 of found faces\" leaves out the faces nothing was reported "
    "on (missed by the detector or not yet confirmed), which is what the tracker alone answers for. FER+ agreement: "
    "the event's label against the matched face's majority label, over the faces that were found (published and "
    "matched); beside it, the served model's agreement on the same face-frames' original 48×48 FER faces, what a "
    "front end losing nothing would reach. Most conditions put a new person in each place every second "
    "(more faces per clip), the first change at a random frame of each place's own, so that arrivals do not fall in "
    "step with a detector running on every k-th frame; the roll sweep (`roll_0`, `roll_15`, `roll_30`) shows the same people in the same places, "
    "only rolled. Analysed frames/s: the session summary's analysed frames over its duration (decode, "
    "detect, track, publish, with the classifier on the same two cores)."
)
