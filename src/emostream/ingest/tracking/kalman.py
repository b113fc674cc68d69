"""Constant-velocity Kalman filter over a face box (centre, width, height), as in ByteTrack / BoT-SORT.

Why a motion model at all: between two analysed frames a walking face moves;
matching the detection against where the track is *predicted* to be, rather
than where it was last seen, keeps IoU high while it moves and lets two faces
that cross continue in their own directions. The trade-off is a few
microseconds of 8x8 numpy algebra per track per frame, and one prediction step
per *analysed* frame (not per unit of time): a source analysed at a steady rate
is what it assumes, which is what ingest's pacing gives.

The noise is proportional to the box size (BoT-SORT's ``KalmanFilterXYWH``), so
one filter serves a face of 30 px and one of 300 px.
"""

from __future__ import annotations

import numpy as np

from emostream.ingest.tracking.geometry import Box

# Process and measurement noise, as a fraction of the box size (BoT-SORT's values).
STD_POSITION = 1.0 / 20
STD_VELOCITY = 1.0 / 160

_F = np.eye(8)
_F[:4, 4:] = np.eye(4)  # position += velocity, one analysed frame per step
_H = np.eye(4, 8)


def _measurement(box: Box) -> np.ndarray:
    x, y, w, h = box
    return np.array([x + w / 2.0, y + h / 2.0, float(w), float(h)])


def initiate(box: Box) -> tuple[np.ndarray, np.ndarray]:
    """State (mean, covariance) of a new track at ``box``, with unknown velocity."""
    z = _measurement(box)
    mean = np.concatenate([z, np.zeros(4)])
    w, h = z[2], z[3]
    std = np.array([2 * STD_POSITION * w, 2 * STD_POSITION * h, 2 * STD_POSITION * w, 2 * STD_POSITION * h,
                    10 * STD_VELOCITY * w, 10 * STD_VELOCITY * h, 10 * STD_VELOCITY * w, 10 * STD_VELOCITY * h])
    return mean, np.diag(std * std)


def predict(mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One analysed frame ahead."""
    w, h = max(mean[2], 1.0), max(mean[3], 1.0)
    std = np.array([STD_POSITION * w, STD_POSITION * h, STD_POSITION * w, STD_POSITION * h,
                    STD_VELOCITY * w, STD_VELOCITY * h, STD_VELOCITY * w, STD_VELOCITY * h])
    return _F @ mean, _F @ cov @ _F.T + np.diag(std * std)


def update(mean: np.ndarray, cov: np.ndarray, box: Box) -> tuple[np.ndarray, np.ndarray]:
    """Fold an observed box into the state."""
    w, h = max(mean[2], 1.0), max(mean[3], 1.0)
    std = np.array([STD_POSITION * w, STD_POSITION * h, STD_POSITION * w, STD_POSITION * h])
    projected_cov = _H @ cov @ _H.T + np.diag(std * std)
    gain = np.linalg.solve(projected_cov, (cov @ _H.T).T).T
    innovation = _measurement(box) - _H @ mean
    return mean + gain @ innovation, cov - gain @ projected_cov @ gain.T


def to_box(mean: np.ndarray) -> Box:
    """The state's box, rounded to pixels (at least 1 px wide and tall)."""
    cx, cy, w, h = (float(v) for v in mean[:4])
    w, h = max(w, 1.0), max(h, 1.0)
    return round(cx - w / 2), round(cy - h / 2), max(1, round(w)), max(1, round(h))
