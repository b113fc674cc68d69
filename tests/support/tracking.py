"""Fake descriptors and observations for the tracker's rule tests (tests/ingest/tracking)."""

from __future__ import annotations

import numpy as np

from emostream.ingest.tracking import appearance
from emostream.ingest.tracking.tracker import Observation


def look(a: int, b: int = 0, w: float = 0.0) -> np.ndarray:
    """Person ``a`` turning into ``b`` by ``w`` (0..1), in the gray part of a fake descriptor."""
    v = np.zeros(appearance.DIMENSIONS, dtype=np.float32)
    v[a] += 1.0 - w
    v[b] += w
    v[: appearance.DIMENSIONS - 1] /= np.linalg.norm(v)
    return v


def face(box: tuple[int, int, int, int], feature: np.ndarray | None) -> Observation:
    """A confident detection at ``box`` with ``feature`` (None: a box with no descriptor)."""
    return Observation(box, feature, True)
