"""Track confirmation with injected detections: what is published, when, under which id, and what is counted."""

from __future__ import annotations

import numpy as np

from emostream.ingest.tracking.appearance import DIMENSIONS
from emostream.ingest.tracking.tracker import Observation, Tracker, TrackerParams


def person(n: int) -> np.ndarray:
    v = np.zeros(DIMENSIONS, dtype=np.float32)
    v[n] = 1.0
    return v


def face(box: tuple[int, int, int, int], score: float, who: int = 0, confident: bool = True) -> Observation:
    return Observation(box, person(who), confident, score)


def tracker(hits: int = 3, score: float = 0.8, **kw: float) -> Tracker:
    return Tracker(TrackerParams(confirm_hits=hits, confirm_score=score, **kw))  # type: ignore[arg-type]


def test_a_weak_track_is_published_from_its_confirm_hits_th_frame() -> None:
    t = tracker(hits=3)
    published = [t.update([face((100 + i, 100, 80, 80), 0.6)], i / 15)[0] for i in range(5)]
    assert published == [None, None, 1, 1, 1], "frames before confirmation are kept back, then the track is published as id 1"


def test_unconfirmed_faces_and_confirmations_are_tallied_per_frame() -> None:
    t = tracker(hits=2)
    t.update([face((100, 100, 80, 80), 0.6)], 0.0)
    assert (t.tally.unconfirmed_faces, t.tally.confirmed, t.tally.unconfirmed) == (1, 0, 0)
    t.update([face((101, 100, 80, 80), 0.6)], 0.1)
    assert (t.tally.unconfirmed_faces, t.tally.confirmed, t.tally.unconfirmed) == (0, 1, 0)


def test_one_high_score_hit_confirms_at_once() -> None:
    t = tracker(hits=5, score=0.8)
    assert t.update([face((100, 100, 80, 80), 0.85)], 0.0) == [1]
    assert t.tally.confirmed == 1 and t.tally.unconfirmed_faces == 0


def test_a_one_frame_blip_is_never_published_and_counted_when_it_ends() -> None:
    t = tracker(hits=2)
    assert t.update([face((300, 50, 60, 60), 0.55)], 0.0) == [None]
    assert t.pending() == 1
    assert t.update([], 0.1) == []
    assert t.tally.unconfirmed == 1, "a tentative track that misses a frame ends unconfirmed"
    assert t.pending() == 0 and not t.tracks


def test_hits_must_be_consecutive() -> None:
    t = tracker(hits=3)
    t.update([face((100, 100, 80, 80), 0.6)], 0.0)
    t.update([face((100, 100, 80, 80), 0.6)], 0.1)
    t.update([], 0.2)  # the tentative track ends here
    assert t.tally.unconfirmed == 1
    assert t.update([face((100, 100, 80, 80), 0.6)], 0.3) == [None], "starting over: one hit of three"


def test_a_dead_blip_leaves_no_gap_in_published_ids() -> None:
    t = tracker(hits=2)
    t.update([face((500, 50, 60, 60), 0.55, who=5)], 0.0)  # blip: one frame, never confirmed
    t.update([face((100, 100, 80, 80), 0.9, who=0)], 0.1)  # a clear face: confirmed at once
    first = t.update([face((101, 100, 80, 80), 0.9, who=0), face((100, 300, 80, 80), 0.6, who=1)], 0.2)
    second = t.update([face((102, 100, 80, 80), 0.9, who=0), face((101, 300, 80, 80), 0.6, who=1)], 0.3)
    assert (first, second) == ([1, None], [1, 2]), "published ids are 1, 2 in order of confirmation, the blip took none"


def test_low_score_boxes_neither_confirm_nor_continue_a_tentative_track() -> None:
    t = tracker(hits=2)
    t.update([face((100, 100, 80, 80), 0.6)], 0.0)
    assert t.update([face((101, 100, 80, 80), 0.4, confident=False)], 0.1) == [None]
    assert t.tally.unconfirmed == 1 and not t.tracks, "a low-score box only serves confirmed tracks (ByteTrack's second pass)"


def test_low_score_boxes_continue_a_confirmed_track() -> None:
    t = tracker(hits=2)
    t.update([face((100, 100, 80, 80), 0.6)], 0.0)
    [track] = t.update([face((101, 100, 80, 80), 0.6)], 0.1)
    assert t.update([face((102, 100, 80, 80), 0.4, confident=False)], 0.2) == [track]


def test_a_returning_person_is_confirmed_at_once_under_their_id() -> None:
    t = tracker(hits=3, score=0.95, reid_window_s=2.0)
    for i in range(4):
        t.update([face((100 + i, 100, 80, 80), 0.7)], i / 15)
    for i in range(4, 12):
        t.update([], i / 15)
    assert t.update([face((400, 100, 80, 80), 0.6)], 1.0) == [1], "re-identified: published at once, the first id back"


def test_confirm_hits_one_publishes_every_face_at_once() -> None:
    t = tracker(hits=1, score=1.01)
    assert t.update([face((100, 100, 80, 80), 0.51)], 0.0) == [1]


def test_a_checkpoint_keeps_tentative_tracks_and_the_next_ids() -> None:
    t = tracker(hits=2)
    t.update([face((100, 100, 80, 80), 0.9, who=0), face((300, 100, 80, 80), 0.6, who=1)], 0.0)
    again = tracker(hits=2)
    again.restore(t.state())
    assert again.update([face((101, 100, 80, 80), 0.9, who=0), face((301, 100, 80, 80), 0.6, who=1)], 0.1) == [1, 2]


def test_a_checkpoint_from_before_confirmation_holds_confirmed_tracks() -> None:
    t = tracker(hits=1)
    t.update([face((100, 100, 80, 80), 0.6)], 0.0)
    state = t.state()
    del state["next_tentative"]
    for item in state["tracks"]:
        del item["confirmed"]
    again = tracker(hits=3)
    again.restore(state)
    assert again.update([face((101, 100, 80, 80), 0.6)], 0.1) == [1]


class Checks:
    """A face check that answers from a script, one answer per call, and counts its calls."""

    def __init__(self, *answers: bool) -> None:
        self.answers, self.calls = list(answers), 0

    def __call__(self) -> bool:
        self.calls += 1
        return self.answers.pop(0)


def checked(box: tuple[int, int, int, int], score: float, check: Checks) -> Observation:
    return Observation(box, person(0), True, score, check)


def test_a_passed_check_publishes_a_new_track_from_its_first_frame_whatever_its_score() -> None:
    t, check = tracker(hits=1, score=0.7), Checks(True)
    assert t.update([checked((100, 100, 80, 80), 0.52, check)], 0.0) == [1]
    assert (t.tally.checked, t.tally.rejected, t.tally.confirmed) == (1, 0, 1)
    assert t.update([checked((101, 100, 80, 80), 0.52, check)], 0.1) == [1]
    assert check.calls == 1, "a confirmed track is never checked again"


def test_a_failed_check_keeps_even_a_high_scoring_track_back() -> None:
    t = tracker(hits=1, score=0.7)
    assert t.update([checked((100, 100, 80, 80), 0.95, Checks(False))], 0.0) == [None]
    assert (t.tally.checked, t.tally.rejected, t.tally.unconfirmed_faces) == (1, 1, 1)


def test_checks_are_retried_1_2_4_hits_apart_and_given_up_after_check_tries() -> None:
    t, check = tracker(hits=1, score=0.7, check_tries=3), Checks(False, False, False)
    tried = []
    for i in range(12):
        assert t.update([checked((100 + i, 100, 80, 80), 0.6, check)], i / 15) == [None]
        tried.append(t.tally.checked)
    assert tried == [1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0], "hits 1, 2 and 4; none after the third failure"
    assert check.calls == 3 and t.pending() == 1, "the track lives on, tentative: its faces are never published"


def test_a_face_that_fails_once_is_published_when_a_retry_passes() -> None:
    t, check = tracker(hits=1, score=0.7), Checks(False, True)
    published = [t.update([checked((100 + i, 100, 80, 80), 0.6, check)], i / 15)[0] for i in range(3)]
    assert published == [None, 1, 1]


def test_the_check_waits_for_the_evidence_of_confirm_hits() -> None:
    t, check = tracker(hits=3, score=0.9), Checks(True)
    published = [t.update([checked((100 + i, 100, 80, 80), 0.6, check)], i / 15)[0] for i in range(4)]
    assert published == [None, None, 1, 1] and check.calls == 1, "checked once, at the third hit"


def test_low_score_boxes_without_a_start_check_are_never_checked() -> None:
    t, check = tracker(hits=1), Checks()
    assert t.update([Observation((100, 100, 80, 80), person(0), False, 0.4)], 0.0) == [None]
    assert check.calls == 0 and not t.tracks, "without detector.check_low a low-score box continues tracks only"


def low(box: tuple[int, int, int, int], check: Checks, who: int = 0) -> Observation:
    """A low-score box that may start a track on the stricter check (detector.check_low)."""
    return Observation(box, person(who), False, 0.4, check)


def test_a_low_score_box_starts_a_track_published_once_its_stricter_check_passes() -> None:
    t, check = tracker(hits=1, score=0.7), Checks(True)
    assert t.update([low((100, 100, 80, 80), check)], 0.0) == [1]
    assert t.update([low((101, 100, 80, 80), check)], 0.1) == [1], "then continued as any confirmed track"
    assert check.calls == 1 and (t.tally.checked, t.tally.confirmed) == (0, 0)


def test_a_low_score_box_that_fails_its_check_is_retried_1_2_4_hits_apart_and_never_published() -> None:
    t, check = tracker(hits=1, score=0.7, check_tries=3), Checks(False, False, False)
    published = [t.update([low((100 + i, 100, 80, 80), check)], i / 15)[0] for i in range(12)]
    assert published == [None] * 12
    assert check.calls == 3 and t.pending() == 1, "one tentative track, continued by its low boxes: not a check per frame"


def test_failed_low_score_checks_do_not_hold_back_a_confident_box_of_the_same_face() -> None:
    t, strict, usual = tracker(hits=1, score=0.7, check_tries=3), Checks(False, False, False), Checks(True)
    for i in range(5):  # a face first seen at low scores, whose stricter check fails each time
        assert t.update([low((100 + i, 100, 80, 80), strict)], i / 15) == [None]
    assert t.update([checked((105, 100, 80, 80), 0.9, usual)], 5 / 15) == [1], "the confident box's own check decides"
    assert usual.calls == 1


def test_a_checkpoint_keeps_the_failed_checks_of_a_tentative_track() -> None:
    t = tracker(hits=1, check_tries=2)
    t.update([checked((100, 100, 80, 80), 0.6, Checks(False))], 0.0)
    again = tracker(hits=1, check_tries=2)
    again.restore(t.state())
    check = Checks(False, True)
    again.update([checked((101, 100, 80, 80), 0.6, check)], 0.1)
    again.update([checked((102, 100, 80, 80), 0.6, check)], 0.2)
    assert check.calls == 1, "the second try was the last one: the restored track had used one already"
