"""Tracking: ids stay stable while a face stays in view."""

from __future__ import annotations

import json

from emostream.ingest.tracker import IouTracker, iou


def test_iou_of_identical_disjoint_and_half_overlapping_boxes() -> None:
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (20, 20, 5, 5)) == 0.0
    assert abs(iou((0, 0, 10, 10), (5, 0, 10, 10)) - 50 / 150) < 1e-9


def test_two_moving_faces_keep_their_ids() -> None:
    tracker = IouTracker(iou_threshold=0.3, max_missed=2)
    first = tracker.update([(0, 0, 50, 50), (200, 0, 50, 50)])
    for step in range(1, 20):
        ids = tracker.update([(200 + step * 3, 0, 50, 50), (step * 3, 0, 50, 50)])  # order swapped on purpose
        assert ids == [first[1], first[0]], f"ids changed at step {step}"


def test_a_missed_detection_within_the_grace_period_keeps_the_id() -> None:
    tracker = IouTracker(max_missed=2)
    [track] = tracker.update([(10, 10, 40, 40)])
    tracker.update([])
    tracker.update([])
    assert tracker.update([(12, 10, 40, 40)]) == [track]


def test_a_face_gone_longer_than_the_grace_period_gets_a_new_id() -> None:
    tracker = IouTracker(max_missed=1)
    [track] = tracker.update([(10, 10, 40, 40)])
    tracker.update([])
    tracker.update([])
    assert tracker.update([(10, 10, 40, 40)]) != [track]


def test_ids_on_the_demo_clip_ground_truth_follow_each_portrait(demo_clip) -> None:  # type: ignore[no-untyped-def]
    """Feed the clip's known face boxes: each visible stretch of a portrait is one track."""
    truth = json.loads(demo_clip.with_suffix(".json").read_text())
    tracker = IouTracker(iou_threshold=0.3, max_missed=5)
    ids_by_person: dict[str, list[int]] = {}
    for faces in truth["faces"]:
        ids = tracker.update([tuple(int(v) for v in face["box"]) for face in faces])
        for face, track in zip(faces, ids, strict=True):
            person = ids_by_person.setdefault(face["id"], [])
            if not person or person[-1] != track:
                person.append(track)
    # The astronaut is cut away once (hard cut); Hopper leaves once and is cut away once.
    assert len(ids_by_person["astronaut"]) == 2, ids_by_person
    assert len(ids_by_person["hopper"]) == 3, ids_by_person
    assert not set(ids_by_person["astronaut"]) & set(ids_by_person["hopper"]), "two people shared a track id"


def test_a_face_jumping_past_its_own_width_keeps_its_id_by_centre_distance() -> None:
    """At a low analysis rate a walking face's boxes stop overlapping; IoU alone would give a new id each frame."""
    boxes = [(40 + step * 70, 100, 60, 60) for step in range(8)]  # 70 px per analysed frame, 60 px wide: IoU 0
    iou_only = IouTracker(max_distance=0.0)
    assert len({iou_only.update([box])[0] for box in boxes}) == 8, "IoU alone loses the face every frame (why the fallback exists)"
    tracker = IouTracker(max_distance=1.5)
    ids = {tracker.update([box])[0] for box in boxes}
    assert len(ids) == 1, f"the centre-distance fallback should keep one id, got {sorted(ids)}"


def test_centre_distance_fallback_does_not_steal_a_neighbours_face() -> None:
    """Overlap is matched first: two faces side by side keep their own ids even when both are within reach."""
    tracker = IouTracker(max_distance=2.0)
    left, right = tracker.update([(100, 100, 60, 60), (180, 100, 60, 60)])
    for step in range(1, 6):
        ids = tracker.update([(100 + step * 2, 100, 60, 60), (180 + step * 2, 100, 60, 60)])
        assert ids == [left, right], f"ids swapped at step {step}: {ids}"


def test_centre_distance_fallback_ignores_boxes_of_very_different_size() -> None:
    tracker = IouTracker(max_distance=2.0)
    [face] = tracker.update([(100, 100, 60, 60)])
    assert tracker.update([(150, 100, 200, 200)]) != [face], "a box three times larger is another face"


def test_a_face_far_away_is_a_new_track() -> None:
    tracker = IouTracker(max_distance=1.0)
    [face] = tracker.update([(0, 0, 50, 50)])
    assert tracker.update([(400, 300, 50, 50)]) != [face]
