"""Data augmentation in NumPy, applied to each training batch before it reaches the model.

Why NumPy and not Keras preprocessing layers: the same pipeline must run under
every Keras backend, including JAX on a GPU machine that has no TensorFlow
(and no OpenCV), and the exported model must hold inference layers only. On
48x48 faces a batch of 128 costs a few milliseconds here, small beside one
training step. Every random draw comes from the ``numpy.random.Generator``
passed in, so a batch is reproducible from (seed, epoch, batch index) and a
resumed run sees the same data it would have seen.

Per face: a horizontal flip, one random affine warp (rotation, zoom, shift,
bilinear, edges replicated), a contrast change, what a camera does to a face
(:func:`camera`: blur, low resolution, block compression, exposure, sensor
noise) and random erasing (Zhong et al. 2017). Per batch: mixup (Zhang et
al. 2018) or CutMix (Yun et al. 2019), which blend two faces and their label
distributions.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AugmentSpec:
    flip: bool = True
    rotation_deg: float = 10.0
    shift: float = 0.1
    zoom: float = 0.1
    contrast: float = 0.2
    erasing: float = 0.0  # probability that a face gets one random rectangle erased
    camera: float = 0.0  # probability that a face goes through a simulated camera (:func:`camera`)
    mixup: float = 0.0  # Beta(alpha, alpha) of mixup; 0 = off
    cutmix: float = 0.0  # Beta(alpha, alpha) of CutMix; 0 = off

    @property
    def enabled(self) -> bool:
        return self.flip or any((self.rotation_deg, self.shift, self.zoom, self.contrast, self.erasing, self.camera, self.mixup, self.cutmix))


def affine(images: np.ndarray, rng: np.random.Generator, spec: AugmentSpec) -> np.ndarray:
    """Flip, rotate, zoom and shift each image of (B, H, W, C) float32 by its own random amount."""
    b, h, w, _ = images.shape
    flip = np.where(rng.random(b) < 0.5, -1.0, 1.0) if spec.flip else np.ones(b)
    angle = np.deg2rad(rng.uniform(-spec.rotation_deg, spec.rotation_deg, b))
    scale = rng.uniform(1.0 - spec.zoom, 1.0 + spec.zoom, b)
    shift = rng.uniform(-spec.shift, spec.shift, (b, 2)) * np.array([w, h])
    # Output pixel p maps back to source c + R(-angle) (p - c - shift) / scale, x mirrored by flip.
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    px = xs[None] - cx - shift[:, 0, None, None]
    py = ys[None] - cy - shift[:, 1, None, None]
    cos, sin = (np.cos(angle) / scale)[:, None, None], (np.sin(angle) / scale)[:, None, None]
    sx = (cos * px + sin * py) * flip[:, None, None] + cx
    sy = -sin * px + cos * py + cy
    return bilinear(images, sx, sy)


def bilinear(images: np.ndarray, sx: np.ndarray, sy: np.ndarray) -> np.ndarray:
    """Sample (B, H, W, C) images at float source coordinates (B, H, W), replicating the edges."""
    b, h, w, _ = images.shape
    sx, sy = np.clip(sx, 0, w - 1), np.clip(sy, 0, h - 1)
    x0, y0 = np.floor(sx).astype(np.intp), np.floor(sy).astype(np.intp)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    fx, fy = (sx - x0)[..., None], (sy - y0)[..., None]
    n = np.arange(b)[:, None, None]
    top = images[n, y0, x0] * (1 - fx) + images[n, y0, x1] * fx
    bottom = images[n, y1, x0] * (1 - fx) + images[n, y1, x1] * fx
    return np.asarray(top * (1 - fy) + bottom * fy, dtype=np.float32)


def contrast(images: np.ndarray, rng: np.random.Generator, amount: float) -> np.ndarray:
    """Scale each image's deviation from its mean by a factor in [1 - amount, 1 + amount]; stays in [0, 1]."""
    factor = rng.uniform(1.0 - amount, 1.0 + amount, (len(images), 1, 1, 1))
    mean = images.mean(axis=(1, 2, 3), keepdims=True)
    return np.asarray(np.clip((images - mean) * factor + mean, 0.0, 1.0), dtype=np.float32)


#: JPEG's luminance quantisation table (ITU-T T.81, Annex K), the one every encoder scales by its quality setting.
_JPEG_LUMA = np.array(
    [
        [16, 11, 10, 16, 24, 40, 51, 61],
        [12, 12, 14, 19, 26, 58, 60, 55],
        [14, 13, 16, 24, 40, 57, 69, 56],
        [14, 17, 22, 29, 51, 87, 80, 62],
        [18, 22, 37, 56, 68, 109, 103, 77],
        [24, 35, 55, 64, 81, 104, 113, 92],
        [49, 64, 78, 87, 103, 121, 120, 101],
        [72, 92, 95, 98, 112, 100, 103, 99],
    ],
    dtype=np.float64,
)
_DCT8 = np.array([[np.sqrt((1 if k == 0 else 2) / 8) * np.cos((2 * n + 1) * k * np.pi / 16) for n in range(8)] for k in range(8)])


@functools.lru_cache(maxsize=512)
def gaussian_matrix(side: int, sigma: float) -> np.ndarray:
    """(side, side) matrix M such that M @ x blurs a column x with a Gaussian of ``sigma`` px, edges replicated."""
    radius = max(1, int(np.ceil(3 * sigma)))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps /= taps.sum()
    m = np.zeros((side, side))
    for i in range(side):
        for t, weight in zip(range(i - radius, i + radius + 1), taps, strict=True):
            m[i, min(max(t, 0), side - 1)] += weight
    return m


@functools.lru_cache(maxsize=512)
def resample_matrix(side: int, small: int) -> np.ndarray:
    """(side, side) matrix: area-average down to ``small`` px, then linear interpolation back up (a distant face scaled up)."""
    down = np.zeros((small, side))
    edges = np.linspace(0, side, small + 1)
    for j in range(small):  # pixel i covers [i, i + 1); output j covers [edges[j], edges[j + 1])
        for i in range(int(edges[j]), int(np.ceil(edges[j + 1]))):
            down[j, i] = min(i + 1, edges[j + 1]) - max(i, edges[j])
    down /= down.sum(axis=1, keepdims=True)
    up = np.zeros((side, small))
    centres = (np.arange(side) + 0.5) * small / side - 0.5
    for i, c in enumerate(np.clip(centres, 0, small - 1)):
        j0 = min(int(np.floor(c)), small - 2) if small > 1 else 0
        f = c - j0
        up[i, j0] += 1 - f
        if small > 1:
            up[i, j0 + 1] += f
    return up @ down


def jpeg_blocks(face: np.ndarray, quality: int) -> np.ndarray:
    """A (H, W) face in 0..1 through JPEG's lossy step: 8x8 DCT, quantised by the luminance table at ``quality``."""
    h, w = face.shape
    scale = 5000.0 / quality if quality < 50 else 200.0 - 2.0 * quality
    table = np.clip(np.floor((_JPEG_LUMA * scale + 50) / 100), 1, 255)
    ph, pw = -(-h // 8) * 8, -(-w // 8) * 8
    pixels = np.pad(face * 255.0 - 128.0, ((0, ph - h), (0, pw - w)), mode="edge")
    blocks = pixels.reshape(ph // 8, 8, pw // 8, 8).transpose(0, 2, 1, 3)
    coefs = _DCT8 @ blocks @ _DCT8.T
    restored = _DCT8.T @ (np.round(coefs / table) * table) @ _DCT8
    out = restored.transpose(0, 2, 1, 3).reshape(ph, pw)[:h, :w] + 128.0
    return np.asarray(np.clip(np.round(out), 0, 255) / 255.0)


def camera(images: np.ndarray, rng: np.random.Generator, probability: float) -> np.ndarray:
    """With ``probability``, a face goes through what a camera does to it: one to three of five effects, each at a random level.

    A camera's face is blurred by its optics or by motion (Gaussian, sigma
    0.4-2.2 px on the 48 px face), a few dozen pixels scaled up (area-averaged
    to 12-36 px and interpolated back), compressed by its encoder (JPEG's
    8x8 block quantisation at quality 6-60), under- or over-exposed with few
    grey levels left (gain 0.15-0.7 after a gamma of 1-2.2, or 1.3-2.5 and
    clipped; then 8-bit levels), and noisy (sensor noise of 2-14 grey levels).
    The model trained on web photos alone loses most on exactly these
    (scripts/camera_robustness.py, docs/MODEL.md); the levels were chosen as
    wide ranges around what cameras give, not read off that script's
    conditions, which are made with OpenCV's own implementations.
    """
    out = images.copy()
    for i in np.flatnonzero(rng.random(len(images)) < probability):
        chosen = rng.permutation(len(CAMERA_EFFECTS))[: int(rng.integers(1, 4))]
        face = out[i].astype(np.float64)  # (H, W, C): every channel alike
        for effect in sorted(chosen):  # in the order a camera applies them: optics, distance, exposure, sensor, encoder
            face = CAMERA_EFFECTS[effect](face, rng)
        out[i] = np.clip(face, 0.0, 1.0)
    return out


def _optics(face: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    sigma = round(rng.uniform(0.4, 2.2), 2)  # rounded: the matrices are cached
    return _separable(face, gaussian_matrix(face.shape[0], sigma), gaussian_matrix(face.shape[1], sigma))


def _distance(face: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    small = int(rng.integers(12, 37))
    return _separable(face, resample_matrix(face.shape[0], small), resample_matrix(face.shape[1], small))


def _exposure(face: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    dark = rng.random() < 0.6
    face = face ** rng.uniform(1.0, 2.2) * rng.uniform(0.15, 0.7) if dark else face * rng.uniform(1.3, 2.5)
    return np.asarray(np.round(np.clip(face, 0.0, 1.0) * 255.0) / 255.0)


def _sensor(face: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.asarray(face + rng.normal(0.0, rng.uniform(2.0, 14.0) / 255.0, (*face.shape[:2], 1)))


def _encoder(face: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    quality = int(rng.integers(6, 61))
    return np.stack([jpeg_blocks(np.clip(face[:, :, c], 0.0, 1.0), quality) for c in range(face.shape[2])], axis=2)


#: What :func:`camera` draws from, in the order a camera applies them.
CAMERA_EFFECTS = (_optics, _distance, _exposure, _sensor, _encoder)


def _separable(face: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``rows @ channel @ cols.T`` for each channel of an (H, W, C) face."""
    return np.asarray((rows @ face.transpose(2, 0, 1) @ cols.T).transpose(1, 2, 0))


def erase(images: np.ndarray, rng: np.random.Generator, probability: float) -> np.ndarray:
    """Random erasing: with ``probability``, fill one rectangle (2-25 % of the face, aspect 0.3-3.3) with noise.

    It teaches the network that a hand, glasses or a shadow over part of the
    face does not change the expression.
    """
    out = images.copy()
    _, h, w, c = images.shape
    for i in np.flatnonzero(rng.random(len(images)) < probability):
        area = rng.uniform(0.02, 0.25) * h * w
        aspect = np.exp(rng.uniform(np.log(0.3), np.log(3.3)))
        eh = int(min(h, max(1, round(np.sqrt(area * aspect)))))
        ew = int(min(w, max(1, round(np.sqrt(area / aspect)))))
        top, left = int(rng.integers(0, h - eh + 1)), int(rng.integers(0, w - ew + 1))
        out[i, top : top + eh, left : left + ew] = rng.random((eh, ew, c))
    return out


def mix(images: np.ndarray, labels: np.ndarray, rng: np.random.Generator, spec: AugmentSpec) -> tuple[np.ndarray, np.ndarray]:
    """Mixup or CutMix (one of the enabled ones, at random) between the batch and a shuffled copy.

    The labels are blended by the same share as the pixels (for CutMix, the
    share of the face the pasted box really covers), so soft FER+ targets stay
    distributions.
    """
    choices = [name for name, alpha in (("mixup", spec.mixup), ("cutmix", spec.cutmix)) if alpha > 0]
    if not choices:
        return images, labels
    kind = choices[int(rng.integers(len(choices)))]
    alpha = spec.mixup if kind == "mixup" else spec.cutmix
    lam = float(rng.beta(alpha, alpha))
    perm = rng.permutation(len(images))
    if kind == "mixup":
        mixed = lam * images + (1.0 - lam) * images[perm]
    else:
        _, h, w, _ = images.shape
        bh, bw = round(h * np.sqrt(1.0 - lam)), round(w * np.sqrt(1.0 - lam))
        cy, cx = int(rng.integers(h)), int(rng.integers(w))
        y0, y1 = max(cy - bh // 2, 0), min(cy + (bh + 1) // 2, h)
        x0, x1 = max(cx - bw // 2, 0), min(cx + (bw + 1) // 2, w)
        mixed = images.copy()
        mixed[:, y0:y1, x0:x1] = images[perm, y0:y1, x0:x1]
        lam = 1.0 - (y1 - y0) * (x1 - x0) / float(h * w)
    return np.asarray(mixed, dtype=np.float32), np.asarray(lam * labels + (1.0 - lam) * labels[perm], dtype=np.float32)


def augment_batch(images: np.ndarray, labels: np.ndarray, rng: np.random.Generator, spec: AugmentSpec) -> tuple[np.ndarray, np.ndarray]:
    """All of the spec's augmentations on one batch of normalised (0..1) images and their label rows."""
    if spec.flip or spec.rotation_deg or spec.zoom or spec.shift:
        images = affine(images, rng, spec)
    if spec.contrast:
        images = contrast(images, rng, spec.contrast)
    if spec.camera:
        images = camera(images, rng, spec.camera)
    if spec.erasing:
        images = erase(images, rng, spec.erasing)
    return mix(images, labels, rng, spec)
