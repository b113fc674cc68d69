"""Where motion decides alone (tracking/gate.py): a face going behind something keeps its track, a swap in place does not.

Fake descriptors in the gray part only: ``look(a, b, w)`` is person ``a``
turning into ``b`` by ``w`` (0..1), so a view can change gradually, frame by
frame, until it no longer looks like the track's template.
"""

from __future__ import annotations

from emostream.ingest.tracking import appearance
from emostream.ingest.tracking.tracker import Observation, Tracker, TrackerParams
from tests.support.tracking import face, look


def settled(t: Tracker, box: tuple[int, int, int, int], who: int, frames: int = 5) -> int:
    ids = [t.update([face(box, look(who))], i / 15)[0] for i in range(frames)]
    assert len(set(ids)) == 1
    return ids[0]  # type: ignore[return-value]


def test_the_gate_is_what_the_fakes_assume() -> None:
    assert appearance.distance(look(0), look(0, 5, 0.5)) > TrackerParams().appearance_distance
    assert appearance.distance(look(0, 5, 0.40), look(0, 5, 0.45)) < TrackerParams().appearance_distance / 4


def test_a_gradual_change_alone_keeps_the_track_beyond_the_template_gate() -> None:
    t = Tracker(TrackerParams())
    first = settled(t, (100, 100, 80, 80), 0)
    for step in range(1, 13):  # 5 % more of someone else's look each frame, far past the gate in the end
        assert t.update([face((100 + step, 100, 80, 80), look(0, 5, 0.05 * step))], (5 + step) / 15) == [first], f"step {step}"


def test_an_abrupt_change_in_place_is_a_new_person_even_with_a_smaller_box() -> None:
    t = Tracker(TrackerParams())
    first = settled(t, (100, 100, 80, 80), 0)
    [second] = t.update([face((108, 108, 64, 64), look(1))], 0.4)  # a smaller box: looks like a cut, but came at once
    assert second != first


def test_with_a_rival_seen_last_frame_motion_does_not_decide() -> None:
    t = Tracker(TrackerParams())
    a, b = _two(t)
    changed = t.update([face((102, 100, 80, 80), look(0, 5, 0.5))], 0.4)[0]  # b's face not found this frame
    assert changed not in (a, b), "a face that looks like neither took a track while two were near"


def _two(t: Tracker) -> tuple[int, int]:
    ids: list[int | None] = []
    for i in range(5):
        ids = t.update([face((100, 100, 80, 80), look(0)), face((150, 100, 80, 80), look(1))], i / 15)
    assert ids[0] is not None and ids[1] is not None
    return ids[0], ids[1]


def test_a_face_behind_a_pillar_keeps_its_track_and_is_compared_again_in_the_open() -> None:
    t = Tracker(TrackerParams())
    first = settled(t, (100, 100, 80, 80), 0)
    going = [((104, 100, 78, 78), 0.1), ((108, 100, 74, 74), 0.2), ((112, 102, 66, 66), 0.4), ((114, 104, 58, 58), 0.6)]
    for k, (box, w) in enumerate(going):
        assert t.update([face(box, look(0, 5, w))], (5 + k) / 15) == [first], f"going behind, view {k}"
    for k in range(3):  # fully hidden
        t.update([], (9 + k) / 15)
    # Coming out on the other side: another part of the face (cut boxes), then the face itself.
    coming = [((150, 106, 50, 50), look(6)), ((150, 104, 54, 54), look(0, 6, 0.6)), ((151, 102, 62, 62), look(0, 6, 0.3)),
              ((152, 100, 80, 80), look(0))]
    for k, (box, feature) in enumerate(coming):
        assert t.update([face(box, feature)], (12 + k) / 15) == [first], f"coming out, view {k}"
    [other] = t.update([face((154, 100, 80, 80), look(2))], 16 / 15)
    assert other != first, "in the open, the template decides again"


def _cut(box: tuple[int, int, int, int]) -> Observation:
    """A box cut by the right border of a 640x480 frame: no descriptor, as the tracker gives it."""
    return Observation(box, None, True, frame=(640, 480))


def test_a_box_cut_by_the_border_next_to_a_track_in_the_open_is_someone_else() -> None:
    # Issue 23's turnover clip: a person is replaced in place by another whose larger box reaches the border.
    t = Tracker(TrackerParams())
    first = settled(t, (535, 200, 86, 86), 0)  # right side at 621: not at the border
    [new] = t.update([_cut((535, 196, 105, 112))], 5 / 15)
    assert new != first


def test_a_face_leaving_by_the_border_keeps_its_track_while_cut() -> None:
    t = Tracker(TrackerParams())
    first = settled(t, (558, 200, 82, 82), 0)  # reaches the right border, still square
    assert t.update([_cut((580, 200, 60, 82))], 5 / 15) == [first]
    assert t.update([_cut((600, 200, 40, 82))], 6 / 15) == [first]
    t = Tracker(TrackerParams())
    first = settled(t, (550, 200, 82, 82), 0)  # 8 px from the border: a tenth of its side
    assert t.update([_cut((570, 200, 70, 82))], 5 / 15) == [first]
