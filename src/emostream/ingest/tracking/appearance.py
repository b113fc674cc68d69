"""A cheap appearance descriptor of a face crop, so that a different person at the same place is not the same track.

What it has to do: tell two people apart, and keep one person together across
expressions, head turns of a few degrees, lighting drift, scale and video
compression; in well under a millisecond, with nothing downloaded. A learned
face embedding separates people best, but none small enough ships with a
redistributable licence and weights, and it would cost more than the whole
budget on a CPU. So the descriptor is computed from the crop (measured in
``docs/BENCHMARKS.md``, "Tracking"):

- **colour**: a hue x saturation histogram of the face box (skin tone, hair,
  glasses, headwear), which an expression does not change; square-rooted
  (Hellinger), so one dominant colour does not drown the rest;
- **shape**: a histogram of gradient orientations (HOG-like) in a 4 x 4 grid
  over the face at 32 x 32 pixels (eyes, brows, nose, face outline). The
  bottom row of cells, where the mouth moves most with an expression, counts
  half as much.

Both parts are unit vectors; the descriptor is their weighted concatenation,
again of unit length, so the cosine distance ``1 - a.b`` lies in [0, 2] and
0 means identical. The trade-off: it identifies a face only among the few
people in one camera's view over a few seconds to minutes, not among many; it
is not a biometric template, and it is never stored or published (see
``docs/privacy.md``).
"""

from __future__ import annotations

import cv2
import numpy as np

from emostream.ingest.tracking.geometry import Box

SIZE = 32  # the face is resized to SIZE x SIZE pixels before describing it
CELLS = 4  # SIZE / CELLS pixels per cell side
ORIENTATIONS = 8  # unsigned gradient orientation bins
HUE_BINS, SAT_BINS = 16, 8
COLOUR_WEIGHT = 0.75  # share of the colour part (the shape part has the rest); see the measurement in docs/BENCHMARKS.md
DIMENSIONS = HUE_BINS * SAT_BINS + CELLS * CELLS * ORIENTATIONS

_CELL = SIZE // CELLS
_cell_of_pixel = ((np.arange(SIZE)[:, None] // _CELL) * CELLS + np.arange(SIZE)[None, :] // _CELL).ravel()
_row_weight = np.ones(CELLS * CELLS, dtype=np.float32)
_row_weight[-CELLS:] = 0.5  # the mouth row


def describe(frame_bgr: np.ndarray, box: Box) -> np.ndarray:
    """Unit-length float32 descriptor of the face in ``box`` (``DIMENSIONS`` values)."""
    x, y, w, h = box
    frame_h, frame_w = frame_bgr.shape[:2]
    x0, y0 = min(max(x, 0), frame_w - 1), min(max(y, 0), frame_h - 1)
    x1, y1 = min(max(x + w, x0 + 1), frame_w), min(max(y + h, y0 + 1), frame_h)
    patch = frame_bgr[y0:y1, x0:x1]
    if patch.ndim == 2:
        patch = cv2.cvtColor(patch, cv2.COLOR_GRAY2BGR)
    small = cv2.resize(patch, (SIZE, SIZE), interpolation=cv2.INTER_AREA)
    return np.concatenate([_colour(small) * COLOUR_WEIGHT, _shape(small) * (1.0 - COLOUR_WEIGHT)]).astype(np.float32) / _norm_of_parts


def _colour(small_bgr: np.ndarray) -> np.ndarray:
    hsv = cv2.cvtColor(small_bgr, cv2.COLOR_BGR2HSV)
    hist = cv2.calcHist([hsv], [0, 1], None, [HUE_BINS, SAT_BINS], [0, 180, 0, 256]).ravel()
    return _unit(np.sqrt(hist))


def _shape(small_bgr: np.ndarray) -> np.ndarray:
    gray = cv2.cvtColor(small_bgr, cv2.COLOR_BGR2GRAY).astype(np.float32)
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=1)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=1)
    magnitude, angle = cv2.cartToPolar(gx, gy)
    orientation = (angle.ravel() * (ORIENTATIONS / np.pi)).astype(np.int64) % ORIENTATIONS  # unsigned: mod pi
    hist = np.bincount(_cell_of_pixel * ORIENTATIONS + orientation, weights=magnitude.ravel(), minlength=CELLS * CELLS * ORIENTATIONS)
    cells = np.sqrt(hist.reshape(CELLS * CELLS, ORIENTATIONS)) * _row_weight[:, None]
    return _unit(cells.ravel())


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


# Both parts are unit vectors (or zero for a blank crop); this keeps the whole at unit length for the usual case.
_norm_of_parts = float(np.hypot(COLOUR_WEIGHT, 1.0 - COLOUR_WEIGHT))


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine distance of two descriptors: 0 identical, about 1 unrelated."""
    return float(1.0 - np.dot(a, b))


def blend(track: np.ndarray, new: np.ndarray, keep: float) -> np.ndarray:
    """A track's descriptor after a new observation: an exponential moving average, back to unit length."""
    return _unit(keep * track + (1.0 - keep) * new).astype(np.float32)
