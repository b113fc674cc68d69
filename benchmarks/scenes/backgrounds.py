"""Backgrounds and faceless pictures, all made here or read from installed packages (no download).

Generated: gradients, smoothed colour noise, cloudy skies (summed octaves of
noise), stripes and checkerboards, colour bars in the manner of FFmpeg's lavfi
``testsrc``/``smptebars``, and titles in large letters. Pictures: scikit-image's
bundled sample images that hold no human face (``camera`` and ``astronaut`` do,
so they are not used here) and matplotlib's sample data. Every function takes
its ``rng`` and is deterministic for a given seed.
"""

from __future__ import annotations

import cv2
import numpy as np

#: skimage.data pictures without a human face (the cat is a deliberate near miss).
PICTURES = ("coffee", "chelsea", "rocket", "brick", "grass", "gravel", "hubble_deep_field", "coins", "moon", "horse", "page", "retina")


def gradient(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A diagonal blend of two random colours (H, W, 3 float32, 0..255)."""
    a, b = rng.uniform(20, 235, 3), rng.uniform(20, 235, 3)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    t = ((xx / width + yy / height) / 2)[..., None]
    out: np.ndarray = (a * (1 - t) + b * t).astype(np.float32)
    return out


def noise(height: int, width: int, rng: np.random.Generator, scale: float = 24.0) -> np.ndarray:
    """Smoothed colour noise around a random mean colour."""
    small = rng.normal(0, 1, (max(2, int(height / scale)), max(2, int(width / scale)), 3)).astype(np.float32)
    field = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.clip(rng.uniform(60, 190, 3) + field * 35, 0, 255).astype(np.float32)


def clouds(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A blue sky with white clouds: octaves of noise, thresholded softly."""
    field = np.zeros((height, width), np.float32)
    for octave in range(5):
        cells = 2 ** (octave + 2)
        small = rng.normal(0, 1, (cells, int(cells * width / height) + 1)).astype(np.float32)
        field += cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC) / 2**octave
    cover = np.clip((field - 0.2) * 0.9, 0, 1)[..., None]
    sky = np.array([200.0, 150.0, 90.0])[::-1].astype(np.float32)  # RGB (90, 150, 200)
    out: np.ndarray = (sky * (1 - cover) + np.float32(245) * cover).astype(np.float32)
    return out


def pattern(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Stripes or a checkerboard in two random colours."""
    yy, xx = np.mgrid[0:height, 0:width]
    period = int(rng.integers(12, 80))
    if rng.random() < 0.5:
        mask = ((xx // period + yy // period) % 2).astype(np.float32)
    else:
        angle = rng.uniform(0, np.pi)
        mask = ((np.cos(angle) * xx + np.sin(angle) * yy) // period % 2).astype(np.float32)
    a, b = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    out: np.ndarray = (a * mask[..., None] + b * (1 - mask[..., None])).astype(np.float32)
    return out


def bars(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Seven colour bars over a gray ramp, like lavfi's ``smptebars``/``testsrc``."""
    colours = np.array([[192, 192, 192], [192, 192, 0], [0, 192, 192], [0, 192, 0], [192, 0, 192], [192, 0, 0], [0, 0, 192]], np.float32)
    out = np.empty((height, width, 3), np.float32)
    top = int(height * 0.7)
    out[:top] = colours[np.minimum(np.arange(width) * 7 // width, 6)][None]
    out[top:] = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
    return out


def title(height: int, width: int, rng: np.random.Generator, words: str) -> np.ndarray:
    """Large letters (a title card) on a plain or gradient background."""
    out = gradient(height, width, rng) if rng.random() < 0.5 else np.full((height, width, 3), rng.uniform(0, 255, 3), np.float32)
    colour = tuple(float(c) for c in (255 - out[height // 2, width // 2]))
    scale = width / 260
    y = int(height * 0.35)
    for line in words.split("\n"):
        cv2.putText(out, line, (int(width * 0.05), y), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, max(2, int(scale * 2.5)), cv2.LINE_AA)
        y += int(height * 0.3)
    return out


def picture(name: str, height: int, width: int) -> np.ndarray:
    """A bundled sample image (skimage.data ``name``), as RGB, resized to cover the frame."""
    import skimage.data

    image = np.asarray(getattr(skimage.data, name)())
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    image = image[..., :3].astype(np.float32)
    scale = max(height / image.shape[0], width / image.shape[1])
    size = (int(np.ceil(image.shape[1] * scale)), int(np.ceil(image.shape[0] * scale)))
    image = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
    y0, x0 = (image.shape[0] - height) // 2, (image.shape[1] - width) // 2
    return np.ascontiguousarray(image[y0 : y0 + height, x0 : x0 + width])


def scene_background(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A background for a scene with faces: a gradient, noise, or a faceless picture."""
    kind = rng.integers(0, 3)
    if kind == 0:
        return gradient(height, width, rng)
    if kind == 1:
        return noise(height, width, rng)
    return picture(str(rng.choice(PICTURES)), height, width)
