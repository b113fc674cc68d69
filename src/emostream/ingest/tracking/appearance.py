"""A cheap appearance descriptor of a face crop, so that a different person at the same place is not the same track.

Details at :func:`describe` and :func:`distance`.
"""

from __future__ import annotations

import sys
from typing import Literal

import cv2
import numpy as np

from emostream.ingest.tracking.geometry import Box

VERSION = 3  # of what a descriptor holds; checkpoints of another version drop their descriptors (tracking/persist.py)
SIZE = 32  # the face is resized to SIZE x SIZE pixels before describing it
ORIENTATIONS = 9  # unsigned gradient orientation bins
LBP_RADIUS = 2  # local binary patterns compare each pixel with 8 neighbours this many pixels away (a square ring)
LBP_GRID = 3  # ... and are counted in LBP_GRID x LBP_GRID regions of the face
HUE_BINS = 18  # 10 degrees each
HOG_SHARE = 0.3  # share of the gradient part in the gray distance (the local binary patterns have the rest)
COLOUR_WEIGHT = 0.25  # how much a colour difference adds to the gray distance when both faces carry full colour
CHROMA_FLOOR, CHROMA_FULL = 6.0, 30.0  # mean chroma (0..255) below which a face counts as gray, above which as fully coloured


def _uniform_labels() -> tuple[np.ndarray, int]:
    """Ojala's "uniform" patterns: the 58 codes with at most two 0/1 transitions around the ring keep a label each,
    every other code shares the last one (59 labels)."""
    labels, uniform = np.empty(256, np.intp), 0
    for code in range(256):
        bits = [(code >> i) & 1 for i in range(8)]
        if sum(bits[i] != bits[(i + 1) % 8] for i in range(8)) <= 2:
            labels[code], uniform = uniform, uniform + 1
        else:
            labels[code] = -1
    labels[labels < 0] = uniform
    return labels, uniform + 1


_LABELS, _LBP_BINS = _uniform_labels()
_RING = ((-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1))  # neighbour directions, clockwise
_INNER = SIZE - 2 * LBP_RADIUS  # the pixels that have all 8 neighbours
_ROWS, _COLS = np.mgrid[LBP_RADIUS : SIZE - LBP_RADIUS, LBP_RADIUS : SIZE - LBP_RADIUS]
_CENTRES = (_ROWS * SIZE + _COLS).ravel()  # flat index of each such pixel in the SIZE x SIZE face ...
_NEIGHBOURS = _CENTRES[:, None] + np.array([LBP_RADIUS * (dy * SIZE + dx) for dy, dx in _RING])  # ... and of its 8 neighbours
_REGION = np.arange(_INNER) * LBP_GRID // _INNER  # each inner row's (and column's) region index
_BIN_BASE = ((_REGION[:, None] * LBP_GRID + _REGION[None, :]) * _LBP_BINS).ravel()  # first histogram bin of each pixel's region
# Eight 0/1 bytes read as one little-endian integer, times this, carry bit k of the code into bit 56 + k (no carries).
_GATHER = np.uint64(0x0102040810204080) if sys.byteorder == "little" else None

_HOG_DIMS = 3 * 3 * 4 * ORIENTATIONS
_LBP_DIMS = LBP_GRID * LBP_GRID * _LBP_BINS
_GRAY = slice(0, _HOG_DIMS + _LBP_DIMS)  # the gray part: gradients and local binary patterns, one unit vector
_COLOUR = slice(_GRAY.stop, _GRAY.stop + HUE_BINS)  # hue histogram weighted by chroma, a unit vector
_CHROMA = _COLOUR.stop  # the last value: how much colour the face carries, 0 (gray) to 1
DIMENSIONS = _CHROMA + 1

# 3 x 3 overlapping blocks of 2 x 2 cells of 8 x 8 pixels, 9 orientation bins, each block normalised (contrast).
_HOG = cv2.HOGDescriptor((SIZE, SIZE), (16, 16), (8, 8), (8, 8), ORIENTATIONS)
_HOG_SCALE, _LBP_SCALE = float(np.sqrt(HOG_SHARE)), float(np.sqrt(1.0 - HOG_SHARE))
_BLUR = cv2.getGaussianKernel(7, 1.0)


def describe(frame: np.ndarray, box: Box, colour: Literal["bgr", "rgb"] = "bgr") -> np.ndarray:
    """Float32 descriptor of the face in ``box`` (``DIMENSIONS`` values) of a ``colour`` frame.

    What it has to do: tell two people apart and keep one person together across
    expressions, small head turns, lighting drift, scale and compression; in
    colour and in gray (night-mode and infrared cameras, low light, 48 px faces),
    in a fraction of a millisecond, with nothing downloaded. Three parts:

    - **gray**: what a face looks like without colour, blind to brightness and
      contrast: local binary patterns of the face at 32 x 32 px (each pixel
      against 8 neighbours ``LBP_RADIUS`` px away: edges, corners, spots; the
      classic texture descriptor of face recognition, Ahonen et al. 2006) counted
      per region of a 3 x 3 grid, and a histogram of oriented gradients in
      overlapping, normalised blocks (eyes, brows, glasses, face outline). One
      unit vector, ``HOG_SHARE`` of it gradients;
    - **colour**: a hue histogram, each pixel weighted by its chroma (skin, hair,
      headwear), square-rooted (Hellinger), a unit vector;
    - **chroma**: how much colour the face carries (0 gray .. 1 coloured), from the
      mean chroma of its pixels, so that colour counts only where there is some.

    Why not a learned face embedding: none small enough ships with a
    redistributable licence and weights, and its cost would exceed the budget on a
    CPU. The descriptor identifies a face only among the few people one camera sees
    within seconds to minutes; it is not a biometric template, and it is never
    stored or published (see ``docs/privacy.md``).
    """
    x, y, w, h = box
    frame_h, frame_w = frame.shape[:2]
    x0, y0 = min(max(x, 0), frame_w - 1), min(max(y, 0), frame_h - 1)
    x1, y1 = min(max(x + w, x0 + 1), frame_w), min(max(y + h, y0 + 1), frame_h)
    # Bilinear, not area averaging: OpenCV's INTER_AREA at a non-integer ratio costs several times more. The patch is
    # resized as it lies in the frame (a view): reordering its channels first made OpenCV copy it, half the old cost.
    small = cv2.resize(frame[y0:y1, x0:x1], (SIZE, SIZE), interpolation=cv2.INTER_LINEAR)
    out = np.empty(DIMENSIONS, np.float32)
    if small.ndim == 2:  # a gray frame: no colour, no chroma
        gray = small
        out[_COLOUR], out[_CHROMA] = 0.0, 0.0
    else:
        rgb = colour == "rgb"
        gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY if rgb else cv2.COLOR_BGR2GRAY)
        out[_COLOUR], out[_CHROMA] = _colour(small, rgb)
    # A light blur (Gaussian, sigma 1 px) for the gradients: a box that moves a pixel or two between frames (detector
    # jitter) changes them less. Two passes of a precomputed kernel: GaussianBlur builds its kernel on every call.
    gradients = np.asarray(_HOG.compute(cv2.sepFilter2D(gray, -1, _BLUR, _BLUR))).ravel()
    if gradients.any():
        out[:_HOG_DIMS] = _unit(gradients) * _HOG_SCALE
        out[_HOG_DIMS : _GRAY.stop] = _patterns(gray) * _LBP_SCALE
    else:  # a flat patch has no gray structure at all (see gray_distance), whatever its ties make of the patterns
        out[_GRAY] = 0.0
    return out


def _patterns(gray: np.ndarray) -> np.ndarray:
    """Uniform local binary patterns (radius ``LBP_RADIUS``, 8 neighbours) counted per region, square-rooted, unit length.

    Each bit says whether a neighbour is at least as bright as the centre: any
    change of exposure or contrast that keeps the order of grey levels keeps the
    code. Square-rooted counts (Hellinger) so that the few common codes of flat
    skin do not outweigh the rest.
    """
    flat = np.ascontiguousarray(gray).ravel()
    bits = flat[_NEIGHBOURS] >= flat[_CENTRES, None]  # one row of 8 booleans (bytes) per pixel
    # Where the platform allows, one multiply gathers a row's 8 booleans into a byte: 7x cheaper than np.packbits.
    gathered = _GATHER is not None
    code = (bits.view(np.uint64).ravel() * _GATHER) >> np.uint64(56) if gathered else np.packbits(bits, axis=1, bitorder="little").ravel()
    counts = np.bincount(_BIN_BASE + _LABELS[code], minlength=_LBP_DIMS)
    return _unit(np.sqrt(counts.astype(np.float32)))


def _colour(small: np.ndarray, rgb: bool) -> tuple[np.ndarray, float]:
    """(hue histogram as a unit vector, chroma weight 0..1) of a small RGB (``rgb``) or BGR patch.

    Each pixel votes for its hue with its chroma (max - min of its channels, zero
    for any gray): exposure and contrast scale the votes, not where they go, and
    near-gray pixels, whose hue is noise, hardly vote.
    """
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV if rgb else cv2.COLOR_BGR2HSV).reshape(-1, 3)
    chroma = hsv[:, 1].astype(np.float32) * hsv[:, 2]  # saturation x value = 255 x chroma; the scale cancels below
    hist = np.bincount(hsv[:, 0] // (180 // HUE_BINS), weights=chroma, minlength=HUE_BINS)[:HUE_BINS]
    weight = min(max((float(chroma.sum()) / (255.0 * chroma.size) - CHROMA_FLOOR) / (CHROMA_FULL - CHROMA_FLOOR), 0.0), 1.0)
    return _unit(np.sqrt(hist)), weight


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.sqrt(np.dot(v, v)))
    return v / n if n > 0 else v


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """How different two faces look: 0 identical, about 1 unrelated, at most 2 + ``COLOUR_WEIGHT``.

    The gray part's cosine distance, plus the colour part's weighted by the
    colour both faces carry (the smaller chroma of the two). So colour can only
    add evidence that two faces differ: a gray face and a coloured face of the
    same pixels differ by their gray parts alone, and one threshold means the
    same in colour and in gray.
    """
    gray = gray_distance(a, b)
    both = min(float(a[_CHROMA]), float(b[_CHROMA]))
    return gray + COLOUR_WEIGHT * both * (1.0 - float(np.dot(a[_COLOUR], b[_COLOUR]))) if both > 0 else gray


def gray_distance(a: np.ndarray, b: np.ndarray) -> float:
    """The cosine distance of the gray parts alone: what two faces differ by without their colour.

    0 where either face has no gray structure at all (a flat patch): nothing to compare.
    """
    dot = float(np.dot(a[_GRAY], b[_GRAY]))
    if dot == 0.0 and not (a[_GRAY].any() and b[_GRAY].any()):
        return 0.0
    return 1.0 - dot


def blend(track: np.ndarray, new: np.ndarray, keep: float) -> np.ndarray:
    """A track's descriptor after a new observation: an exponential moving average, each part back to unit length."""
    out = (keep * track + (1.0 - keep) * new).astype(np.float32)
    out[_GRAY] = _unit(out[_GRAY])
    out[_COLOUR] = _unit(out[_COLOUR])
    return out
