"""The scene benchmark's generator is deterministic, its ground truth consistent, its scoring right.

Needs the FER2013 faces (``../shared/data/fer2013`` or ``EMOSTREAM_FER_DIR``) the
first time a split's face pool is made; it is then cached under ``build/scenes``.
"""

from __future__ import annotations

import json
from pathlib import Path

import av
import pytest

from benchmarks.scenes import generate, scene, testclips
from benchmarks.scenes.conditions import CONDITIONS, FPS, Condition, by_name
from benchmarks.scenes.evaluate import Report, paired_cost, score_clip
from benchmarks.scenes.faces import POOL_SIZE, face_pool, fer_dir
from benchmarks.scenes.measure import ClipResult, SplitResult
from benchmarks.scenes.report import targets
from emostream.infra.emotions import EMOTIONS

needs_fer = pytest.mark.skipif(
    not (fer_dir() / "fer2013new.csv").is_file() and not (generate.CACHE / "faces-tune.npz").is_file(),
    reason="no FER2013/FER+ data (../shared/data/fer2013 or EMOSTREAM_FER_DIR) and no cached face pool",
)


@needs_fer
def test_a_condition_comes_out_byte_for_byte_the_same(tmp_path: Path) -> None:
    cond = Condition("determinism", people=3, sizes=(40, 90), rolls=(0.0, 15.0), seconds=1.0, script="swap", gray=True)
    first = generate.write_condition(cond, "tune", tmp_path / "a")
    second = generate.write_condition(cond, "tune", tmp_path / "b")
    assert first.read_bytes() == second.read_bytes()
    assert first.with_suffix(".json").read_text() == second.with_suffix(".json").read_text()


@needs_fer
@pytest.mark.parametrize("name", [c.name for c in CONDITIONS])
def test_ground_truth_lies_in_the_frame_with_known_labels(name: str) -> None:
    cond = by_name(name)
    pool = face_pool("tune", generate.CACHE)
    frames = list(scene.render(cond, pool, generate.rng_for("tune", cond.seed_name)))
    assert len(frames) == cond.frames
    people: dict[str, str] = {}
    arrivals: set[int] = set()  # frames where someone appears after the first
    for index, (image, truth) in enumerate(frames):
        arrivals |= {index for face in truth["faces"] if index and face["id"] not in people}
        assert image.shape == (cond.height, cond.width, 3)
        for face in truth["faces"]:
            x, y, w, h = face["box"]
            assert x >= 0 and y >= 0 and x + w <= cond.width and y + h <= cond.height, face
            assert cond.sizes[0] <= w <= cond.sizes[1] and w == h
            assert face["label"] in EMOTIONS and face["id"] == f"fer{face['row']}"
            assert people.setdefault(face["id"], face["label"]) == face["label"]
            assert abs(face["roll"]) in cond.rolls
    # A new person in the swapped place every second (every place every turnover_s), first at a frame of
    # the place's own, so that replacements do not fall in step with an ingest detecting every k-th frame.
    if cond.script == "swap":
        assert cond.frames % FPS == 0 and len(people) == cond.people + cond.frames // FPS
    elif cond.turnover_s:
        every = round(cond.turnover_s * FPS)
        assert cond.frames % every == 0 and len(people) == cond.people * (1 + cond.frames // every)
    if cond.script == "swap" or cond.turnover_s:
        assert any(frame % 3 for frame in arrivals), sorted(arrivals)


@needs_fer
def test_the_roll_sweep_differs_only_in_roll() -> None:
    pool = face_pool("tune", generate.CACHE)
    sweeps = [[truth for _, truth in scene.render(by_name(name), pool, generate.rng_for("tune", by_name(name).seed_name))] for name in ("roll_0", "roll_30")]
    for upright, tilted in zip(*sweeps, strict=True):
        assert [(f["id"], f["box"]) for f in upright["faces"]] == [(f["id"], f["box"]) for f in tilted["faces"]]
        assert {abs(f["roll"]) for f in tilted["faces"]} <= {30.0}


@needs_fer
def test_short_file_claims_more_frames_than_it_decodes(tmp_path: Path) -> None:
    clip = testclips.short_file(tmp_path, frames=40, missing=3)
    with av.open(str(clip.path)) as container:
        declared = container.streams.video[0].frames
        decoded = sum(1 for _ in container.decode(video=0))
    assert (declared, decoded) == (40, 37)
    assert json.loads(clip.path.with_suffix(".json").read_text())["frames"] == 37


def _meta(frames: list[list[dict[str, object]]]) -> dict[str, object]:
    return {"fps": 15, "frames": len(frames), "faces": frames, "ignore": [[] for _ in frames]}


def test_scores_count_misses_false_faces_and_a_track_that_changes_person() -> None:
    a = {"id": "fer1", "row": 1, "label": "happy", "box": [100.0, 100.0, 40.0, 40.0]}
    b = {"id": "fer2", "row": 2, "label": "sad", "box": [100.0, 100.0, 80.0, 80.0]}
    meta = _meta([[a]] * 5 + [[b]] * 5)
    reports = [[Report((105, 105, 30, 30), 1, "happy")]] * 4 + [[]] + [[Report((110, 110, 60, 60), 1, "happy"), Report((400, 10, 30, 30), 2, "sad")]] * 5
    score = score_clip(meta, reports, tracked=True)
    assert score.found[1] == 4 and score.faces[1] == 5  # the 32-64 px band: one frame missed
    assert score.found[2] == 5 and score.faces[2] == 5
    assert (score.labelled, score.agreed) == (9, 4)
    assert score.false_faces == 5
    assert (score.tracks, score.mixed) == (2, 1)  # track 1 went from person 1 to person 2
    assert score.idf1 is not None and score.idf1 < 0.9
    assert score.shared == 1
    # Among the found faces alone, track 1 still holds two people: the tracker's own mistake.
    assert score.idf1_found is not None and score.idf1_found < 0.9


def test_a_track_with_one_face_of_someone_else_shares_but_does_not_hold_two_people() -> None:
    a = {"id": "fer1", "row": 1, "label": "happy", "box": [100.0, 100.0, 40.0, 40.0]}
    b = {"id": "fer2", "row": 2, "label": "sad", "box": [100.0, 100.0, 40.0, 40.0]}
    meta = _meta([[a]] * 19 + [[b]])
    reports = [[Report((105, 105, 30, 30), 1)]] * 20
    score = score_clip(meta, reports, tracked=True)
    assert (score.mixed, score.shared) == (0, 1), "one face in twenty is under the 10 % rule, but it is someone else's"
    missed = score_clip(meta, [[Report((105, 105, 30, 30), 1)]] * 10 + [[]] * 10, tracked=True)
    assert missed.idf1_found == 1.0 and missed.idf1 is not None and missed.idf1 < 0.7, "missed faces count in IDF1 only"


def test_agreement_sits_beside_the_models_reading_of_the_same_original_faces() -> None:
    a = {"id": "fer1", "row": 1, "label": "happy", "box": [100.0, 100.0, 40.0, 40.0]}
    b = {"id": "fer2", "row": 2, "label": "sad", "box": [300.0, 100.0, 40.0, 40.0]}
    meta = _meta([[a, b]] * 4)
    # Person 1 found in every frame but read wrong once; person 2 found twice; the model reads 1's original right, 2's wrong.
    reports = [[Report((105, 105, 30, 30), 1, "happy" if f else "sad"), *([Report((305, 105, 30, 30), 2, "sad")] if f < 2 else [])] for f in range(4)]
    score = score_clip(meta, reports, tracked=True, originals={1: "happy", 2: "neutral"})
    assert (score.labelled, score.agreed, score.original_agreed) == (6, 5, 4)
    assert score.people == {"fer1": [3, 4], "fer2": [2, 2]}
    assert score_clip(meta, reports, tracked=True).original_agreed == 0, "without the model's readings there is no ceiling"


def test_the_roll_cost_compares_the_same_people_only() -> None:
    upright = {"fer1": (10, 10), "fer2": (0, 10), "fer3": (10, 10)}
    rolled = {"fer1": (5, 10), "fer2": (0, 10), "fer4": (0, 10)}  # fer3 not found rolled, fer4 not upright
    people, cost, lo, hi = paired_cost(upright, rolled)
    assert people == 2 and cost == 25.0  # 10/20 upright against 5/20 rolled
    assert lo <= cost <= hi
    assert paired_cost(upright, {})[0] == 0



@needs_fer
def test_the_fresh_split_shares_no_person_with_test() -> None:
    """``fresh`` is the figure nothing was tuned on: PublicTest faces, none of which ``test`` shows."""
    fresh, test = face_pool("fresh", generate.CACHE), face_pool("test", generate.CACHE)
    assert len(fresh.rows) == len(test.rows) == POOL_SIZE
    assert not set(fresh.rows.tolist()) & set(test.rows.tolist())


def test_roll_is_judged_on_the_roll_study_where_it_was_run() -> None:
    """The roll sweep's ~28 people cannot read a 2-point cost: with the 600-person study's figure, theirs is reference."""
    empty = SplitResult("tune")
    judged = [row for row in targets(empty, 0.0, (550, 2.5, 0.4, 4.6)) if "30° roll" in row[0]]
    assert judged == [["agreement lost at 30° roll, the roll study's 550 people found at both rolls (90 % interval)", "≤ 2 points",
                       "2.5 (0.4 to 4.6)", "**missed**"]]
    assert not [row for row in targets(empty, 0.0) if "30° roll" in row[0]], "no study and no roll clips: no roll row"


def test_the_roll_sweep_clips_judge_roll_only_without_a_study() -> None:
    face = {"id": "fer1", "row": 1, "label": "happy", "box": [100.0, 100.0, 90.0, 90.0]}
    meta = {**_meta([[face]] * 4), "faceless": False, "gray": False, "width": 640}
    right, wrong = [[Report((120, 120, 50, 50), 1, "happy")]] * 4, [[Report((120, 120, 50, 50), 1, "sad")]] * 4
    result = SplitResult("tune", [ClipResult("roll_0", meta, score_clip(meta, right, tracked=True), 0.0, "eof", 4),
                                  ClipResult("roll_30", meta, score_clip(meta, wrong, tracked=True), 0.0, "eof", 4)])
    alone = [row for row in targets(result, 0.0) if "30° roll" in row[0]]
    assert alone[0][2] == "100.0" and {row[3] for row in alone} == {"**missed**"}  # every face agreed upright, none rolled
    beside = [row for row in targets(result, 0.0, (550, 0.5, -1.0, 2.0)) if "30° roll" in row[0]]
    assert beside[0][3] == "**met**" and [row[3] for row in beside[1:]] == ["(reference)"] * len(alone), "the study judges"
