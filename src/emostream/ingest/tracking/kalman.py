"""Constant-velocity Kalman filter over a face box (centre x, centre y, width, height), as in ByteTrack / BoT-SORT.

Why a motion model at all: between two analysed frames a walking face moves;
matching the detection against where the track is *predicted* to be, rather
than where it was last seen, keeps the overlap high while it moves and lets two
faces that cross continue in their own directions. One prediction step is one
*analysed* frame, not a unit of time: a source analysed at a steady rate is
what it assumes, which is what ingest's pacing gives.

Details at :func:`predict`.
"""

from __future__ import annotations

import numpy as np

from emostream.ingest.tracking.geometry import Box

# Process and measurement noise, as a fraction of the box size (BoT-SORT's values).
STD_POSITION = 1.0 / 20
STD_VELOCITY = 1.0 / 160
POS, VEL, PP, PV, VV = range(5)


def _measurement(box: Box) -> np.ndarray:
    x, y, w, h = box
    return np.array([x + w / 2.0, y + h / 2.0, float(w), float(h)])


def _scale(state: np.ndarray) -> np.ndarray:
    """Per coordinate, the size the noise is proportional to: width for x and w, height for y and h."""
    w, h = max(float(state[POS, 2]), 1.0), max(float(state[POS, 3]), 1.0)
    return np.array([w, h, w, h])


def initiate(box: Box) -> np.ndarray:
    """State of a new track at ``box``, with unknown velocity."""
    z = _measurement(box)
    size = np.array([z[2], z[3], z[2], z[3]])
    state = np.zeros((5, 4))
    state[POS] = z
    state[PP] = (2 * STD_POSITION * size) ** 2
    state[VV] = (10 * STD_VELOCITY * size) ** 2
    return state


def predict(state: np.ndarray) -> np.ndarray:
    """One analysed frame ahead (a new array).

    The noise is proportional to the box size (BoT-SORT's ``KalmanFilterXYWH``), so
    one filter serves a face of 30 px and one of 300 px. In that filter the four
    coordinates never mix (the transition, the observation and both noises act on
    each coordinate alone, and the first covariance is diagonal), so the 8x8 filter
    is exactly four independent 2x2 filters (position, velocity). They are kept as
    one 5 x 4 array, a column per coordinate, with rows: position, velocity, and
    the covariance terms P_pp, P_pv, P_vv. The same result as the 8x8 algebra, for
    a few vector operations instead of matrix products and a 4x4 solve: the filter
    is most of the tracker's cost per face otherwise.
    """
    size = _scale(state)
    pos, vel, pp, pv, vv = state
    out = np.empty_like(state)
    out[POS] = pos + vel
    out[VEL] = vel
    out[PP] = pp + 2 * pv + vv + (STD_POSITION * size) ** 2
    out[PV] = pv + vv
    out[VV] = vv + (STD_VELOCITY * size) ** 2
    return out


def update(state: np.ndarray, box: Box) -> np.ndarray:
    """Fold an observed box into the state (a new array)."""
    size = _scale(state)
    pos, vel, pp, pv, vv = state
    s = pp + (STD_POSITION * size) ** 2
    k_pos, k_vel = pp / s, pv / s
    innovation = _measurement(box) - pos
    out = np.empty_like(state)
    out[POS] = pos + k_pos * innovation
    out[VEL] = vel + k_vel * innovation
    out[PP] = (1 - k_pos) * pp
    out[PV] = (1 - k_pos) * pv
    out[VV] = vv - k_vel * pv
    return out


def to_box(state: np.ndarray) -> Box:
    """The state's box, rounded to pixels (at least 1 px wide and tall)."""
    cx, cy, w, h = (float(v) for v in state[POS])
    w, h = max(w, 1.0), max(h, 1.0)
    return round(cx - w / 2), round(cy - h / 2), max(1, round(w)), max(1, round(h))
