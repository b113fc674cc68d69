"""The appearance descriptor on FER2013 faces: one face stays close under camera changes, different faces stay apart.

Faces come from the scene benchmark's ``tune`` pool (FER2013 Training, never the
faces the benchmark reports on). Each face is pasted, scaled up, into a frame
and described through its exact box, the way the tracker describes a detection.
The limits are the tracker's own defaults, the same in colour and gray.
"""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest

from benchmarks.scenes import generate
from benchmarks.scenes.faces import FacePool, face_pool, fer_dir
from emostream.config import TrackerConfig
from emostream.ingest.tracking import appearance

needs_fer = pytest.mark.skipif(
    not (fer_dir() / "fer2013new.csv").is_file() and not (generate.CACHE / "faces-tune.npz").is_file(),
    reason="no FER2013/FER+ data (../shared/data/fer2013 or EMOSTREAM_FER_DIR) and no cached face pool",
)
LIMIT = TrackerConfig().appearance_distance
BOX = (100, 60, 96, 96)
TINT = np.array([0.67, 0.86, 1.0], np.float32)  # a light skin tone, BGR


@pytest.fixture(scope="module")
def pool() -> FacePool:
    return face_pool("tune", generate.CACHE)


def scene(face: np.ndarray, tint: np.ndarray | None = None, brightness: float = 0.0, contrast: float = 1.0, jpeg: int = 0) -> np.ndarray:
    """A 320 x 240 BGR frame with the 48 px face scaled into BOX, then exposure and JPEG as a camera would."""
    frame = np.full((240, 320, 3), 70.0, np.float32)
    x, y, w, h = BOX
    big = cv2.resize(face, (w, h), interpolation=cv2.INTER_CUBIC).astype(np.float32)[..., None]
    frame[y : y + h, x : x + w] = big * (tint if tint is not None else np.ones(3, np.float32))
    frame = (frame - 128.0) * contrast + 128.0 + brightness
    image = np.clip(frame, 0, 255).astype(np.uint8)
    if jpeg:
        image = cv2.imdecode(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, jpeg])[1], cv2.IMREAD_COLOR)
    return image


def describe(frame: np.ndarray) -> np.ndarray:
    return appearance.describe(frame, BOX)


@needs_fer
@pytest.mark.parametrize("tint", [None, TINT], ids=["gray", "colour"])
def test_one_face_stays_close_under_exposure_contrast_and_jpeg(pool: FacePool, tint: np.ndarray | None) -> None:
    """Dimmer and flatter keeps the order of grey levels (the patterns do not change); brighter and steeper clips the
    highlights and JPEG adds blocks, which change them, but not past the gate: the track goes on."""
    for face in pool.images[:10]:
        plain = describe(scene(face, tint))
        d = appearance.distance(plain, describe(scene(face, tint, brightness=-60.0, contrast=0.6)))
        assert d < LIMIT / 4, f"dimmer: distance {d:.3f} to the same face (limit {LIMIT})"
        for change in ({"brightness": 40.0, "contrast": 1.3}, {"jpeg": 20}):
            d = appearance.distance(plain, describe(scene(face, tint, **change)))  # type: ignore[arg-type]
            assert d < LIMIT, f"{change}: distance {d:.3f} to the same face (limit {LIMIT})"


@needs_fer
@pytest.mark.parametrize("tint", [None, TINT], ids=["gray", "colour"])
def test_different_faces_stay_apart_with_the_same_skin(pool: FacePool, tint: np.ndarray | None) -> None:
    """Every pair of 60 faces, all of one skin tone (in colour) or none (gray), so colour cannot tell them apart.

    Every pair lies beyond the limit (the closest at 0.19 against 0.17; the
    descriptor of gradients and brightness layout it replaced let 1 % of such
    pairs within 0.16, see docs/decisions.md). The tracker also needs the
    newcomer at the same place for a mix-up.
    """
    features = [describe(scene(face, tint)) for face in pool.images[:60]]
    distances = np.array([appearance.distance(a, b) for a, b in itertools.combinations(features, 2)])
    assert distances.min() > LIMIT, f"two different faces at distance {distances.min():.3f} (limit {LIMIT})"


@needs_fer
def test_a_gray_face_and_the_same_face_in_colour_are_not_pushed_apart(pool: FacePool) -> None:
    """A camera switching to night mode: the hue goes, the face stays; only the gray part is compared."""
    for face in pool.images[:10]:
        gray, colour = describe(scene(face)), describe(scene(face, TINT))
        assert colour[-1] > 0.5 and gray[-1] == 0.0, "the chroma weight says how much colour each face carries"
        d = appearance.distance(gray, colour)
        assert d < LIMIT / 2, f"the same face in gray and in colour at distance {d:.3f}"


def test_a_colour_difference_adds_to_the_gray_one_and_never_subtracts() -> None:
    rng = np.random.default_rng(3)
    face = rng.integers(40, 220, (48, 48), dtype=np.uint8)
    base = describe(scene(face, TINT))
    blue = describe(scene(face, np.array([1.0, 0.6, 0.4], np.float32)))
    assert appearance.distance(base, blue) > appearance.gray_distance(base, blue) + 0.05, "another colour differs by the colour"
    assert appearance.distance(base, base) == pytest.approx(0.0, abs=1e-5)


def test_blend_keeps_each_part_at_unit_length() -> None:
    rng = np.random.default_rng(4)
    a = describe(scene(rng.integers(0, 255, (48, 48), dtype=np.uint8), TINT))
    b = describe(scene(rng.integers(0, 255, (48, 48), dtype=np.uint8)))
    mixed = appearance.blend(a, b, 0.9)
    assert appearance.distance(mixed, mixed) == pytest.approx(0.0, abs=1e-5)
    assert 0.0 < mixed[-1] < a[-1], "the chroma weight is averaged like the rest"


def test_the_channel_order_and_a_one_channel_frame_give_the_same_descriptor() -> None:
    """The patch is resized where it lies and converted by the frame's own order: RGB, BGR and gray agree."""
    rng = np.random.default_rng(5)
    face = rng.integers(30, 230, (48, 48), dtype=np.uint8)
    bgr = scene(face, TINT)
    rgb = np.ascontiguousarray(bgr[:, :, ::-1])
    from_bgr, from_rgb = appearance.describe(bgr, BOX, "bgr"), appearance.describe(rgb, BOX, "rgb")
    np.testing.assert_allclose(from_rgb, from_bgr, atol=1e-6)
    assert from_bgr[-1] > 0.5, "a tinted face carries colour"
    gray = scene(face)
    one_channel = appearance.describe(np.ascontiguousarray(gray[:, :, 0]), BOX)
    np.testing.assert_allclose(one_channel, appearance.describe(gray, BOX), atol=1e-6)
    assert one_channel[-1] == 0.0
