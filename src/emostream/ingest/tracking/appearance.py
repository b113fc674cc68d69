"""A cheap appearance descriptor of a face crop, so that a different person at the same place is not the same track.

Details at :func:`describe`.
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

from emostream.ingest.tracking.geometry import Box

SIZE = 32  # the face is resized to SIZE x SIZE pixels before describing it
ORIENTATIONS = 9  # unsigned gradient orientation bins
HUE_BINS, SAT_BINS = 16, 8
COLOUR_WEIGHT = 0.75  # share of the colour part (the shape part has the rest); see the measurement in docs/BENCHMARKS.md
DIMENSIONS = HUE_BINS * SAT_BINS + 3 * 3 * 4 * ORIENTATIONS

# 3 x 3 overlapping blocks of 2 x 2 cells of 8 x 8 pixels, 9 orientation bins, each block normalised (lighting).
_HOG = cv2.HOGDescriptor((SIZE, SIZE), (16, 16), (8, 8), (8, 8), ORIENTATIONS)


def describe(frame: np.ndarray, box: Box, colour: Literal["bgr", "rgb"] = "bgr") -> np.ndarray:
    """Unit-length float32 descriptor of the face in ``box`` (``DIMENSIONS`` values) of a ``colour`` frame.

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
    - **shape**: a histogram of oriented gradients (HOG) of the face at 32 x 32
      pixels, in overlapping blocks normalised for lighting (eyes, brows, glasses,
      nose, face outline). It weighs a quarter: the mouth, which an expression
      moves most, is part of it, and colour alone separates people better.

    Both parts are unit vectors; the descriptor is their weighted concatenation,
    again of unit length, so the cosine distance ``1 - a.b`` lies in [0, 2] and
    0 means identical. The trade-off: it identifies a face only among the few
    people in one camera's view over a few seconds to minutes, not among many; it
    is not a biometric template, and it is never stored or published (see
    ``docs/privacy.md``).
    """
    x, y, w, h = box
    frame_h, frame_w = frame.shape[:2]
    x0, y0 = min(max(x, 0), frame_w - 1), min(max(y, 0), frame_h - 1)
    x1, y1 = min(max(x + w, x0 + 1), frame_w), min(max(y + h, y0 + 1), frame_h)
    patch = frame[y0:y1, x0:x1]
    if patch.ndim == 2:
        patch = cv2.cvtColor(patch, cv2.COLOR_GRAY2BGR)
    elif colour == "rgb":
        patch = patch[:, :, ::-1]  # a view; the resize below makes the copy
    # Bilinear, not area averaging: OpenCV's INTER_AREA at a non-integer ratio costs several times more, and
    # histograms of a 32 x 32 sample separate people as well (measured in docs/BENCHMARKS.md).
    small = cv2.resize(patch, (SIZE, SIZE), interpolation=cv2.INTER_LINEAR)
    return np.concatenate([_colour(small) * COLOUR_WEIGHT, _shape(small) * (1.0 - COLOUR_WEIGHT)]).astype(np.float32) / _norm_of_parts


def _colour(small_bgr: np.ndarray) -> np.ndarray:
    hsv = cv2.cvtColor(small_bgr, cv2.COLOR_BGR2HSV)
    hist = cv2.calcHist([hsv], [0, 1], None, [HUE_BINS, SAT_BINS], [0, 180, 0, 256]).ravel()
    return _unit(np.sqrt(hist))


def _shape(small_bgr: np.ndarray) -> np.ndarray:
    # OpenCV's HOG in one call: at 32 x 32, a dozen numpy calls cost three times more than the work itself.
    return _unit(np.asarray(_HOG.compute(cv2.cvtColor(small_bgr, cv2.COLOR_BGR2GRAY)), dtype=np.float32).ravel())


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.sqrt(np.dot(v, v)))
    return v / n if n > 0 else v


# Both parts are unit vectors (or zero for a blank crop); this keeps the whole at unit length for the usual case.
_norm_of_parts = float(np.hypot(COLOUR_WEIGHT, 1.0 - COLOUR_WEIGHT))


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine distance of two descriptors: 0 identical, about 1 unrelated."""
    return float(1.0 - np.dot(a, b))


def blend(track: np.ndarray, new: np.ndarray, keep: float) -> np.ndarray:
    """A track's descriptor after a new observation: an exponential moving average, back to unit length."""
    return _unit(keep * track + (1.0 - keep) * new).astype(np.float32)
