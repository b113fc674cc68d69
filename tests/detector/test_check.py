"""The second look at a face candidate: the keypoint layout exactly, and real faces against the detector's real false boxes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchmarks.scenes.backgrounds import picture
from emostream.detector.base import Detection
from emostream.detector.check import FaceCheck, misfit
from emostream.detector.litert import LiteRTBlazeFace
from emostream.detector.upright import TEMPLATE
from tests.detector.test_litert_ranges import distant_face


def placed(angle_deg: float, side: float, cx: float, cy: float, points: tuple[tuple[float, float], ...] = TEMPLATE) -> tuple[tuple[float, float], ...]:
    a = math.radians(angle_deg)
    return tuple((cx + side * (x * math.cos(a) - y * math.sin(a)), cy + side * (x * math.sin(a) + y * math.cos(a))) for x, y in points)


@pytest.fixture(scope="module", params=[True, False], ids=["view-and-mirror", "one-view"])
def check(request: pytest.FixtureRequest) -> FaceCheck:
    return FaceCheck(mirror=request.param)


@pytest.mark.parametrize(("angle", "side", "cx", "cy"), [(0, 50, 100, 100), (30, 200, 640, 300), (-75, 33, 20, 700)])
def test_a_face_layout_fits_whatever_its_size_roll_and_place(angle: float, side: float, cx: float, cy: float) -> None:
    assert misfit(placed(angle, side, cx, cy)) < 1e-9


def test_layouts_that_are_no_face_do_not_fit() -> None:
    (rx, ry), (lx, ly), nose, mouth = TEMPLATE
    eyes_below_the_mouth = ((rx, -ry), (lx, -ly), nose, (mouth[0], -0.2))
    squashed = ((rx, ry), (lx, ly), (nose[0], ry), (mouth[0], ry + 0.05))
    assert misfit(placed(10, 80, 200, 200, eyes_below_the_mouth)) > 0.1
    assert misfit(placed(0, 80, 200, 200, squashed)) > 0.08
    assert misfit(((5.0, 5.0),) * 4) == math.inf, "four points in one place: no scale to measure by"


@pytest.mark.parametrize("face_px", [40, 64, 160])
@pytest.mark.parametrize("frame", [(640, 480), (1280, 720)])
def test_a_real_face_passes_at_camera_distances(check: FaceCheck, face_px: int, frame: tuple[int, int]) -> None:
    image, _ = distant_face(frame[0] // 3, face_px, frame)
    with LiteRTBlazeFace("auto") as detector:
        found = [d for d in detector.detect_native(image) if abs(d.w - face_px) < face_px * 0.4]
    assert len(found) == 1, f"the detector should find the {face_px} px face once: {[d.box for d in found]}"
    seen = check.look(image, found[0])
    assert check.passes(image, found[0]), f"a real face failed the check: {seen}"
    assert check.passes(np.ascontiguousarray(image[:, :, ::-1]), found[0], "bgr"), "the same frame in BGR"


def test_the_detectors_false_boxes_on_a_deep_field_photograph_fail(check: FaceCheck) -> None:
    """The Hubble deep field (skimage's, as the scene benchmark shows it) is what BlazeFace most often takes for faces."""
    canvas = np.clip(picture("hubble_deep_field", 600, 800), 0, 255).astype(np.uint8)
    false_boxes: list[tuple[np.ndarray, Detection]] = []
    with LiteRTBlazeFace("auto") as detector:
        for y in (0, 40, 80, 120):
            for x in (40, 80, 120, 160):
                image = np.ascontiguousarray(canvas[y : y + 480, x : x + 640])
                false_boxes += [(image, d) for d in detector.detect_native(image) if min(d.w, d.h) >= 24]
    assert len(false_boxes) >= 10, f"the detector no longer takes the galaxies for faces ({len(false_boxes)} boxes): this test checks nothing"
    assert max(d.score for _, d in false_boxes) >= 0.7, "some of them score as well as faces do"
    passed = [(d.box, check.look(image, d)) for image, d in false_boxes if check.passes(image, d)]
    assert passed == [], f"false boxes that passed the check: {passed}"


def test_without_keypoints_the_box_square_is_looked_at(check: FaceCheck) -> None:
    """Haar gives no keypoints: no layout to test, and the views are the box's square as it stands."""
    image, _ = distant_face(320, 100, (640, 480))
    with LiteRTBlazeFace("auto") as detector:
        (face,) = detector.detect_native(image)
    bare = Detection(face.x, face.y, face.w, face.h, face.score)
    assert check.look(image, bare).misfit == 0.0
    assert check.passes(image, bare)


class Scripted(FaceCheck):
    """The check's decision with the two views' scores given (the views themselves are tested above)."""

    def __init__(self, close: float, wide: float, vouched: float, low_close: float = 1.01) -> None:
        super().__init__(vouched=vouched, low_close=low_close)
        self.scores = {"close": close, "wide": wide}
        self.looked: list[str] = []

    def view_score(self, model: object, image: np.ndarray, detection: Detection, scale: float, colour: str) -> float:
        view = "close" if model is self.short else "wide"
        self.looked.append(view)
        return self.scores[view]


@pytest.mark.parametrize("score, close, wide, passes", [
    (0.80, 0.60, 0.0, True),  # the detector vouches (0.75+): a close-up of 0.5 is enough, no wide view
    (0.79, 0.45, 0.9, False),  # ... but not under 0.5, whatever the wide view says
    (0.85, 0.45, 0.40, True),  # sure (0.8+): a blurred close-up of 0.4+ passes where the wide view scores 0.35+
    (0.85, 0.45, 0.30, False),
    (0.85, 0.35, 0.90, False),  # ... and never under 0.4
    (0.70, 0.60, 0.9, False),  # not vouched: the close-up needs 0.7 as before
    (0.70, 0.75, 0.5, True),  # not vouched: 0.7-0.8 and a wide view of 0.3+
    (0.70, 0.75, 0.1, False),
])
def test_a_candidate_its_detector_vouches_for_needs_less_of_the_close_up(score: float, close: float, wide: float, passes: bool) -> None:
    check = Scripted(close, wide, vouched=0.75)
    face = Detection(100, 100, 80, 80, score, placed(0.0, 80.0, 140.0, 140.0))
    assert check.passes(np.zeros((480, 640, 3), np.uint8), face) is passes
    if score >= 0.75 and close >= 0.5:
        assert check.looked == ["close"], "the wide view is not needed"


def _nose_moved(by: float) -> tuple[tuple[float, float], ...]:
    (rx, ry), (lx, ly), (nx, ny), mouth = TEMPLATE
    return placed(0.0, 80.0, 140.0, 140.0, ((rx, ry), (lx, ly), (nx + by, ny), mouth))


@pytest.mark.parametrize("score, nose, passes, looked", [
    (0.90, 0.21, True, ["close"]),  # misfit ~0.09: the detector vouches, so up to 0.10 is a face's layout
    (0.70, 0.21, False, []),  # not vouched: over 0.08 fails before any inference
    (0.90, 0.30, False, []),  # ~0.13: too far off for anyone
])
def test_a_candidate_its_detector_vouches_for_may_have_an_odder_layout(score: float, nose: float, passes: bool, looked: list[str]) -> None:
    check = Scripted(0.6, 0.9, vouched=0.75)
    face = Detection(100, 100, 80, 80, score, _nose_moved(nose))
    assert 0.08 < misfit(face.keypoints or ()) <= 0.10 or nose > 0.25
    assert check.passes(np.zeros((480, 640, 3), np.uint8), face) is passes
    assert check.looked == looked


@pytest.mark.parametrize("close, wide, passes, looked", [
    (0.90, 0.50, True, ["close", "wide"]),  # a close-up that would pass alone still needs the wide view
    (0.76, 0.30, True, ["close", "wide"]),
    (0.74, 0.90, False, ["close"]),  # under low_close: no wide view is asked for
    (0.95, 0.29, False, ["close", "wide"]),
])
def test_a_low_score_candidate_needs_both_views(close: float, wide: float, passes: bool, looked: list[str]) -> None:
    """detector.check_low: a box the detector scored under its threshold starts a track only where both other looks agree."""
    check = Scripted(close, wide, vouched=0.0, low_close=0.75)  # vouching (any score here) does not apply to low boxes
    face = Detection(100, 100, 80, 80, 0.4, placed(0.0, 80.0, 140.0, 140.0))
    assert check.passes_low(np.zeros((480, 640, 3), np.uint8), face) is passes
    assert check.looked == looked


def test_a_low_score_candidate_without_a_face_layout_costs_no_inference() -> None:
    check = Scripted(1.0, 1.0, vouched=1.01, low_close=0.75)
    (rx, ry), (lx, ly), nose, mouth = TEMPLATE
    eyes_below_the_mouth = placed(0.0, 80.0, 140.0, 140.0, ((rx, -ry), (lx, -ly), nose, (mouth[0], -0.2)))
    assert not check.passes_low(np.zeros((480, 640, 3), np.uint8), Detection(100, 100, 80, 80, 0.4, eyes_below_the_mouth))
    assert check.looked == []


def test_real_faces_pass_and_the_deep_fields_false_boxes_fail_the_low_score_check() -> None:
    """The same real material as above, on the stricter terms a low-score box gets (detector.check_low 0.75)."""
    check = FaceCheck(low_close=0.75)
    with LiteRTBlazeFace("auto") as detector:
        for face_px in (64, 160):
            image, _ = distant_face(640 // 3, face_px, (640, 480))
            (found,) = [d for d in detector.detect_native(image) if abs(d.w - face_px) < face_px * 0.4]
            assert check.passes_low(image, found), f"a real {face_px} px face failed: {check.look(image, found, everything=True)}"
        canvas = np.clip(picture("hubble_deep_field", 600, 800), 0, 255).astype(np.uint8)
        false_boxes = [(np.ascontiguousarray(canvas[y : y + 480, x : x + 640]), d) for y in (0, 80) for x in (40, 160)
                       for d in detector.detect_native(np.ascontiguousarray(canvas[y : y + 480, x : x + 640])) if min(d.w, d.h) >= 24]
    assert len(false_boxes) >= 4, f"the detector no longer takes the galaxies for faces ({len(false_boxes)} boxes): this test checks nothing"
    assert [d.box for image, d in false_boxes if check.passes_low(image, d)] == []
