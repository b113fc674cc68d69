"""The tracker with fake detections and fake appearance descriptors: ids follow people, not places."""

from __future__ import annotations

import json

import numpy as np

from emostream.ingest.tracking.appearance import DIMENSIONS
from emostream.ingest.tracking.tracker import Observation, Tracker, TrackerParams, iou


def person(n: int, noise: float = 0.0) -> np.ndarray:
    """A fake descriptor: person ``n`` is the n-th axis; ``noise`` tilts it a little (the same person, another frame)."""
    v = np.zeros(DIMENSIONS, dtype=np.float32)
    v[n] = 1.0
    v[DIMENSIONS - 1 - n] = noise
    return v / np.linalg.norm(v)


def seen(box: tuple[int, int, int, int], who: int | None = 0, confident: bool = True) -> Observation:
    return Observation(box, None if who is None else person(who), confident)


def tracker(**kw: float) -> Tracker:
    return Tracker(TrackerParams(**kw))  # type: ignore[arg-type]


def test_iou_of_identical_disjoint_and_half_overlapping_boxes() -> None:
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (20, 20, 5, 5)) == 0.0
    assert abs(iou((0, 0, 10, 10), (5, 0, 10, 10)) - 50 / 150) < 1e-9


def test_two_moving_faces_keep_their_ids() -> None:
    t = tracker(max_missed=2)
    first = t.update([seen((0, 0, 50, 50), 0), seen((200, 0, 50, 50), 1)], 0.0)
    for step in range(1, 20):
        ids = t.update([seen((200 + step * 3, 0, 50, 50), 1), seen((step * 3, 0, 50, 50), 0)], step / 15)  # order swapped on purpose
        assert ids == [first[1], first[0]], f"ids changed at step {step}"


def test_a_different_person_at_the_same_box_starts_a_new_track_at_once() -> None:
    """The swap of issue #15: within the grace period, at the very same place, the newcomer must not inherit the id."""
    t = tracker(max_missed=5)
    [first] = t.update([seen((100, 100, 80, 80), 0)], 0.0)
    t.update([seen((100, 100, 80, 80), 0)], 0.1)
    [second] = t.update([seen((100, 100, 80, 80), 1)], 0.2)
    assert second != first, "another person at the same place inherited the track"
    assert t.update([seen((101, 100, 80, 80), 1)], 0.3) == [second], "the newcomer keeps the new track"


def test_the_same_person_with_a_slightly_different_descriptor_keeps_the_track() -> None:
    t = tracker()
    [first] = t.update([seen((100, 100, 80, 80), 0)], 0.0)
    for step in range(1, 10):
        obs = Observation((100 + step, 100, 80, 80), person(0, noise=0.3 * (step % 2)), True)  # cosine distance ~0.04
        assert t.update([obs], step / 15) == [first], f"lost the face at step {step}"


def test_without_appearance_the_swap_is_missed_as_before() -> None:
    """Why the descriptor exists: motion alone hands the newcomer the old id."""
    t = tracker(appearance_distance=0.0)
    [first] = t.update([seen((100, 100, 80, 80), 0)], 0.0)
    assert t.update([seen((100, 100, 80, 80), 1)], 0.1) == [first]


def test_a_missed_detection_within_the_grace_period_keeps_the_id() -> None:
    t = tracker(max_missed=2)
    [face] = t.update([seen((10, 10, 40, 40))], 0.0)
    t.update([], 0.1)
    t.update([], 0.2)
    assert t.update([seen((12, 10, 40, 40))], 0.3) == [face]


def test_a_face_gone_longer_than_the_grace_period_gets_a_new_id_without_reid() -> None:
    t = tracker(max_missed=1, reid_window_s=0.0)
    [face] = t.update([seen((10, 10, 40, 40))], 0.0)
    t.update([], 0.1)
    t.update([], 0.2)
    assert t.update([seen((10, 10, 40, 40))], 0.3) != [face]


def test_the_motion_model_follows_a_face_through_a_short_occlusion() -> None:
    """A face moving 30 px per frame is hidden for 3 frames: its last box no longer overlaps, the prediction does."""
    t = tracker(max_missed=5, max_distance=0.0)
    ids = {t.update([seen((30 * i, 100, 60, 60))], i / 15)[0] for i in range(6)}
    for i in range(6, 9):
        t.update([], i / 15)
    ids.add(t.update([seen((30 * 9, 100, 60, 60))], 9 / 15)[0])
    assert len(ids) == 1, f"the face was split over {sorted(ids)}"


def test_a_low_score_detection_continues_a_track_but_never_starts_one() -> None:
    t = tracker()
    [face] = t.update([seen((100, 100, 80, 80))], 0.0)
    assert t.update([seen((102, 100, 80, 80), confident=False)], 0.1) == [face], "the second pass should keep the track"
    assert t.update([seen((400, 100, 80, 80), 1, confident=False)], 0.2) == [None], "a low-score box alone is no face"


def test_a_low_score_detection_of_another_person_does_not_continue_the_track() -> None:
    t = tracker()
    t.update([seen((100, 100, 80, 80), 0)], 0.0)
    assert t.update([seen((100, 100, 80, 80), 1, confident=False)], 0.1) == [None]


def leave_and_return(t: Tracker, away_s: float, back: int = 0) -> tuple[int, int]:
    """Person 0 is seen for 1 s, leaves for ``away_s``, then ``back`` appears elsewhere; (first id, id on return)."""
    first = 0
    for i in range(15):
        [first] = t.update([seen((100 + i, 100, 80, 80), 0)], i / 15)
    now = 1.0
    while now < 1.0 + away_s:
        t.update([], now)
        now += 1 / 15
    [again] = t.update([seen((400, 120, 80, 80), back)], now)
    return first, again


def test_reidentification_within_the_window_gives_the_old_id_back() -> None:
    first, again = leave_and_return(tracker(reid_window_s=10.0), away_s=5.0)
    assert again == first, "a return within the window should be re-identified"


def test_reidentification_after_the_window_is_a_new_track() -> None:
    first, again = leave_and_return(tracker(reid_window_s=10.0), away_s=12.0)
    assert again != first, "the window is over: the person must have been forgotten"


def test_by_default_a_return_within_two_seconds_is_reidentified_and_a_later_one_is_not() -> None:
    first, again = leave_and_return(tracker(), away_s=1.5)
    assert again == first, "the default window (2 s) covers a face hidden for a moment"
    first, again = leave_and_return(tracker(), away_s=3.0)
    assert again != first, "the default window is 2 s"


def test_reidentification_can_be_turned_off() -> None:
    first, again = leave_and_return(tracker(reid_window_s=0.0), away_s=1.0)
    assert again != first


def test_reidentification_never_hands_an_id_to_someone_else() -> None:
    first, again = leave_and_return(tracker(reid_window_s=10.0), away_s=2.0, back=1)
    assert again != first


def test_a_face_first_seen_without_appearance_is_reidentified_at_its_first_clear_view() -> None:
    """A returning face cut by the frame border looks like no one; its first whole view gives its old id back."""
    t = tracker(reid_window_s=10.0)
    first, _ = leave_and_return(t, away_s=2.0, back=1)  # person 0 left; person 1 now on screen at (400, 120)
    [temporary] = t.update([Observation((0, 100, 40, 80), None, True)], 3.2)  # at the left border: no descriptor
    assert temporary != first, "nothing says yet who this is"
    assert t.update([seen((10, 100, 80, 80), 0)], 3.3) == [first], "the first clear view should re-identify person 0"
    assert t.update([seen((14, 100, 80, 80), 0)], 3.4) == [first]


def test_a_face_coming_out_from_behind_someone_takes_back_its_track_still_in_grace() -> None:
    """Crossing: hidden for a few frames, it reappears half hidden (no usable descriptor) where motion does not reach."""
    t = tracker(max_missed=10, max_distance=0.0)
    [first] = t.update([seen((100, 100, 80, 80), 0)], 0.0)
    for i in range(1, 4):
        t.update([], i / 15)
    [provisional] = t.update([Observation((300, 100, 80, 80), None, True)], 4 / 15)
    assert provisional != first
    assert t.update([seen((304, 100, 80, 80), 0)], 5 / 15) == [first], "its first clear view should give its id back"
    assert [tr.id for tr in t.tracks] == [first], "the old track is taken over, not left to age"


def test_an_established_track_is_never_renamed() -> None:
    t = tracker(reid_window_s=10.0)
    first, _ = leave_and_return(t, away_s=2.0, back=1)  # person 0 in the gallery
    [other] = t.update([seen((10, 100, 80, 80), 2)], 3.2)
    for i in range(1, 8):
        [other] = t.update([seen((10 + i, 100, 80, 80), 2)], 3.2 + i / 15)
    assert t.update([seen((18, 100, 80, 80), 0, confident=False)], 3.8) != [first], "a low-score lookalike must not rename it"
    assert other != first


def test_nothing_is_kept_past_the_reid_window() -> None:
    t = tracker(reid_window_s=3.0)
    leave_and_return(t, away_s=1.0, back=1)  # person 0 is in the gallery, person 1 on screen
    assert [g.id for g in t.gone], "person 0 should be remembered within the window"
    t.update([], 10.0)
    assert t.gone == [], "a person who left longer ago than the window must be forgotten"


def test_a_restored_tracker_continues_exactly_like_the_original() -> None:
    """Checkpoint/resume: the state survives JSON, so a restarted ingest hands out the same ids."""

    def frames(i: int) -> list[Observation]:
        return [seen((20 + 5 * i, 50, 60, 60), 0), seen((300 - 4 * i, 60, 60, 60), 1)] if i % 7 != 3 else []

    original = tracker(reid_window_s=5.0)
    for i in range(10):
        original.update(frames(i), i / 15)
    restored = tracker(reid_window_s=5.0)
    restored.restore(json.loads(json.dumps(original.state())))
    for i in range(10, 30):
        assert restored.update(frames(i), i / 15) == original.update(frames(i), i / 15), f"diverged at frame {i}"


def test_a_checkpoint_from_before_appearance_still_restores() -> None:
    t = tracker()
    t.restore({"next_id": 4, "tracks": [[3, [100, 100, 80, 80], 0, 7]]})
    assert t.update([seen((102, 100, 80, 80))], 0.1) == [3]
    assert t.update([seen((500, 100, 80, 80), 1)], 0.2) == [4]


def test_a_face_jumping_past_its_own_width_keeps_its_id_by_centre_distance() -> None:
    """At a low analysis rate a walking face's boxes stop overlapping; IoU alone would give a new id each frame."""
    boxes = [(40 + step * 70, 100, 60, 60) for step in range(8)]  # 70 px per analysed frame, 60 px wide: IoU 0 at first
    t = tracker(max_distance=1.5)
    ids = {t.update([seen(box)], i / 3)[0] for i, box in enumerate(boxes)}
    assert len(ids) == 1, f"the centre-distance fallback should keep one id, got {sorted(ids)}"


def test_centre_distance_fallback_ignores_boxes_of_very_different_size() -> None:
    t = tracker(max_distance=2.0)
    [face] = t.update([seen((100, 100, 60, 60))], 0.0)
    assert t.update([seen((150, 100, 200, 200))], 0.1) != [face], "a box three times larger is another face"


def test_a_face_far_away_is_a_new_track() -> None:
    t = tracker(max_distance=1.0)
    [face] = t.update([seen((0, 0, 50, 50))], 0.0)
    assert t.update([seen((400, 300, 50, 50))], 0.1) != [face]
