"""Data augmentation in NumPy, applied to each training batch before it reaches the model.

Why NumPy and not Keras preprocessing layers: the same pipeline must run under
every Keras backend, including JAX on a GPU machine that has no TensorFlow
(and no OpenCV), and the exported model must hold inference layers only. On
48x48 faces a batch of 128 costs a few milliseconds here, small beside one
training step. Every random draw comes from the ``numpy.random.Generator``
passed in, so a batch is reproducible from (seed, epoch, batch index) and a
resumed run sees the same data it would have seen.

Per face: a horizontal flip, one random affine warp (rotation, zoom, shift,
bilinear, edges replicated), a contrast change and random erasing (Zhong et
al. 2017). Per batch: mixup (Zhang et al. 2018) or CutMix (Yun et al. 2019),
which blend two faces and their label distributions.
"""

from __future__ import annotations

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
    mixup: float = 0.0  # Beta(alpha, alpha) of mixup; 0 = off
    cutmix: float = 0.0  # Beta(alpha, alpha) of CutMix; 0 = off

    @property
    def enabled(self) -> bool:
        return self.flip or any(
            (self.rotation_deg, self.shift, self.zoom, self.contrast, self.erasing, self.mixup, self.cutmix)
        )


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


def mix(
    images: np.ndarray, labels: np.ndarray, rng: np.random.Generator, spec: AugmentSpec
) -> tuple[np.ndarray, np.ndarray]:
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


def augment_batch(
    images: np.ndarray, labels: np.ndarray, rng: np.random.Generator, spec: AugmentSpec
) -> tuple[np.ndarray, np.ndarray]:
    """All of the spec's augmentations on one batch of normalised (0..1) images and their label rows."""
    if spec.flip or spec.rotation_deg or spec.zoom or spec.shift:
        images = affine(images, rng, spec)
    if spec.contrast:
        images = contrast(images, rng, spec.contrast)
    if spec.erasing:
        images = erase(images, rng, spec.erasing)
    return mix(images, labels, rng, spec)
