"""Faces as a camera gives them: FER faces blurred, compressed, under- and over-exposed, scaled down and noisy, with OpenCV.

The scoring side of the camera question (``emostream evaluate --camera``,
:mod:`evalcli`; ``scripts/camera_robustness.py``,
``tests/training/test_shipped_models.py``; docs/MODEL.md, "Faces as cameras
give them"). Each condition is a mild and a harsh level of one effect on the
48 px face. These are OpenCV's own implementations, not the training
package's NumPy simulation (``augment.camera``), so that a model trained with
that augmentation is not scored on its own code.

- ``blur``: Gaussian blur, sigma 1.0 / 1.8 px (a soft lens, a face in motion);
- ``jpeg``: JPEG at quality 30 / 12 (an IP camera's stream at a low bit rate);
- ``dark``: gamma 1.6, then x0.45 / x0.25, 8-bit levels (a dim room, night
  mode: few grey levels left);
- ``lowres``: down to 24 / 16 px and back up (a distant face, scaled up);
- ``noise``: Gaussian sensor noise, 6 / 12 grey levels;
- ``bright``: overexposed, gain 1.6 / 2.2, clipped.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from emostream.training.data import Dataset

Degrade = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def blur(sigma: float) -> Degrade:
    def run(face: np.ndarray, _: np.random.Generator) -> np.ndarray:
        import cv2  # here, not at import: training runs where OpenCV is absent (a GPU machine), scoring does not

        return np.asarray(cv2.GaussianBlur(face, (0, 0), sigma))

    return run


def jpeg(quality: int) -> Degrade:
    def run(face: np.ndarray, _: np.random.Generator) -> np.ndarray:
        import cv2

        ok, data = cv2.imencode(".jpg", face, [cv2.IMWRITE_JPEG_QUALITY, quality])
        assert ok
        return np.asarray(cv2.imdecode(data, cv2.IMREAD_GRAYSCALE))

    return run


def dark(gain: float) -> Degrade:
    def run(face: np.ndarray, _: np.random.Generator) -> np.ndarray:
        level = (face.astype(np.float32) / 255.0) ** 1.6 * gain
        return np.round(level * 255.0).astype(np.uint8)

    return run


def lowres(side: int) -> Degrade:
    def run(face: np.ndarray, _: np.random.Generator) -> np.ndarray:
        import cv2

        small = cv2.resize(face, (side, side), interpolation=cv2.INTER_AREA)
        return cv2.resize(small, face.shape[::-1], interpolation=cv2.INTER_LINEAR)

    return run


def noise(levels: float) -> Degrade:
    def run(face: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return np.clip(face.astype(np.float32) + rng.normal(0.0, levels, face.shape), 0, 255).astype(np.uint8)

    return run


def bright(gain: float) -> Degrade:
    return lambda face, _: np.clip(face.astype(np.float32) * gain, 0, 255).astype(np.uint8)


CONDITIONS: dict[str, Degrade] = {
    "blur 1.0": blur(1.0),
    "blur 1.8": blur(1.8),
    "jpeg 30": jpeg(30),
    "jpeg 12": jpeg(12),
    "dark 0.45": dark(0.45),
    "dark 0.25": dark(0.25),
    "lowres 24": lowres(24),
    "lowres 16": lowres(16),
    "noise 6": noise(6.0),
    "noise 12": noise(12.0),
    "bright 1.6": bright(1.6),
    "bright 2.2": bright(2.2),
}
#: The harsher level of each pair: what the default is held to (tests/training/test_shipped_models.py).
HARSH = ("blur 1.8", "jpeg 12", "dark 0.25", "lowres 16", "noise 12", "bright 2.2")


def degrade_all(images: np.ndarray, how: Degrade, seed: int = 7) -> np.ndarray:
    """Every (N, 48, 48) or (N, 48, 48, 1) uint8 face through ``how``, same shape and dtype."""
    rng = np.random.default_rng(seed)
    flat = images.reshape(len(images), images.shape[1], images.shape[2])
    return np.stack([how(np.ascontiguousarray(face), rng) for face in flat]).reshape(images.shape).astype(images.dtype)


def condition(name: str) -> Degrade:
    """The condition called ``name`` ("blur 1.8"; "blur-1.8" and "blur_1.8" too, for command lines); a clear error for others."""
    key = name.replace("-", " ").replace("_", " ").strip()
    if key not in CONDITIONS:
        raise ValueError(f"unknown camera condition {name!r}; choose from {', '.join(c.replace(' ', '-') for c in CONDITIONS)} or all")
    return CONDITIONS[key]


def through_camera(dataset: Dataset, name: str) -> Dataset:
    """The same faces and labels, each face through the condition ``name``."""
    return Dataset(degrade_all(dataset.images, condition(name)), dataset.labels)
