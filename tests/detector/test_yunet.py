"""The YuNet detector (ONNX Runtime): faces at every size and place, BlazeFace's framing and keypoints, nothing in faceless frames.

Material: two public-domain portraits (skimage's astronaut, matplotlib's Grace
Hopper) pasted at several sizes into 640x480, 1280x720 and 3840x2160 frames;
LiteRT BlazeFace, a detector trained apart, says where each face is.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from emostream.config import load_config
from emostream.detector import make_detector
from emostream.detector.check import misfit
from emostream.detector.litert import LiteRTBlazeFace
from emostream.detector.upright import turn
from emostream.detector.yunet import YuNetDetector
from emostream.ingest.tracking.geometry import iou
from tests.detector.test_litert_agreement import pasted, portraits

PLACES = [(0.0, 0.0), (0.5, 0.5), (1.0, 1.0)]


def bgr(rgb: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(rgb[:, :, ::-1])


@pytest.fixture(scope="module")
def yunet() -> YuNetDetector:
    return YuNetDetector(0.6)


@pytest.fixture(scope="module")
def blazeface() -> LiteRTBlazeFace:
    return LiteRTBlazeFace("auto", 0.5, 480)


@pytest.mark.parametrize("size", [(640, 480), (1280, 720)])
def test_each_pasted_face_is_found_once_where_blazeface_frames_it(yunet: YuNetDetector, blazeface: LiteRTBlazeFace, size: tuple[int, int]) -> None:
    # Given portraits pasted at sizes from a ~45 px face to the frame's height, in corners and centre,
    checked, problems = 0, []
    for p, portrait in enumerate(portraits()):
        for side in (240, 320, 480):
            for at in PLACES:
                if round(side * portrait.shape[0] / portrait.shape[1]) > size[1]:
                    continue
                frame = pasted(size, portrait, side, at)
                # when YuNet and BlazeFace both look,
                mine, theirs = yunet.detect_native(bgr(frame)), blazeface.detect_native(frame)
                if len(theirs) != 1:
                    continue  # BlazeFace's own miss says nothing of YuNet's framing
                checked += 1
                # YuNet finds the one face, framed as BlazeFace frames it (its box mapped to BlazeFace's framing).
                if len(mine) != 1:
                    problems.append(f"portrait{p}@{side}{at}: {len(mine)} faces")
                elif iou(mine[0].box, theirs[0].box) < 0.7:
                    problems.append(f"portrait{p}@{side}{at}: box {mine[0].box} against BlazeFace's {theirs[0].box}")
    assert checked >= 8, f"BlazeFace framed only {checked} of the pasted faces: too little material"
    assert not problems, "; ".join(problems)


@pytest.mark.parametrize("landmarks, count", [(True, 6), (False, 4)])
def test_keypoints_are_in_blazefaces_order(landmarks: bool, count: int) -> None:
    # BlazeFace's six from the close-up (the default), or YuNet's own as BlazeFace's first four.
    detector = YuNetDetector(0.6, landmarks=landmarks)
    for portrait in portraits():
        (face,) = detector.detect_native(bgr(portrait))
        assert face.keypoints is not None and len(face.keypoints) == count
        right_eye, left_eye, nose, mouth = face.keypoints[:4]
        assert right_eye[0] < left_eye[0], "the person's right eye is on the image's left, as MediaPipe orders them"
        assert max(right_eye[1], left_eye[1]) < nose[1] < mouth[1], "eyes above the nose above the mouth"
        assert misfit(face.keypoints) < 0.05, "a face's layout passes the face check's first look"


@pytest.mark.parametrize("degrees", [-25, 15, 30])
def test_the_keypoints_tell_how_a_head_is_turned(yunet: YuNetDetector, degrees: int) -> None:
    portrait = portraits()[0]
    h, w = portrait.shape[:2]
    rotated = cv2.warpAffine(portrait, cv2.getRotationMatrix2D((w / 2, h / 2), -degrees, 1.0), (w, h), borderMode=cv2.BORDER_REPLICATE)
    (face,) = yunet.detect_native(bgr(rotated))
    assert face.keypoints is not None
    assert math.degrees(turn(face.keypoints)) == pytest.approx(degrees, abs=6)


def test_a_small_distant_face_is_found(yunet: YuNetDetector) -> None:
    # The astronaut's face is ~18 % of the portrait's width: 180 px wide in 1280x720 is a face of ~32 px.
    frame = pasted((1280, 720), portraits()[0], 180, (0.3, 0.6))
    faces = yunet.detect_native(bgr(frame))
    assert len(faces) == 1 and 24 <= faces[0].w <= 48, faces


@pytest.mark.parametrize("kind", ["flat", "noise", "stripes"])
def test_a_faceless_frame_has_no_face(yunet: YuNetDetector, kind: str) -> None:
    rng = np.random.default_rng(7)
    frame = {
        "flat": np.full((480, 640, 3), 128, np.uint8),
        "noise": rng.integers(0, 256, (480, 640, 3), dtype=np.uint8),
        "stripes": np.repeat((np.arange(640) // 16 % 2 * 255).astype(np.uint8)[None, :, None], 480, 0).repeat(3, 2),
    }[kind]
    assert yunet.detect_native(frame) == []


def test_a_frame_larger_than_max_side_is_scaled_down_and_boxes_come_back_in_its_pixels() -> None:
    frame = bgr(pasted((3840, 2160), portraits()[1], 1200, (0.7, 0.4)))
    full = YuNetDetector(0.6, max_side=0).detect_native(frame)
    scaled = YuNetDetector(0.6, max_side=1920).detect_native(frame)
    assert len(full) == 1 and len(scaled) == 1
    assert iou(full[0].box, scaled[0].box) > 0.85, (full[0].box, scaled[0].box)


def test_the_default_detector_is_yunet_and_min_score_overrides_its_own() -> None:
    config = load_config(None)
    assert config.detector.backend == "yunet"
    detector = make_detector(config.detector)
    assert isinstance(detector, YuNetDetector) and detector.min_score == 0.6
    lower = config.model_copy(update={"detector": config.detector.model_copy(update={"min_score": 0.3})})
    assert make_detector(lower.detector).min_score == 0.3  # type: ignore[attr-defined]


def test_onnx_runtime_telemetry_is_off(tmp_path: Path) -> None:
    # ONNX Runtime's telemetry, when on, starts a session record in TMPDIR at import (.ses): a detector leaves none.
    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"} | {"TMPDIR": str(tmp_path)}
    code = "from emostream.detector.yunet import YuNetDetector; YuNetDetector()"
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120)
    assert list(tmp_path.iterdir()) == []
