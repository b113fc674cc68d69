"""The batch between the take, model and commit stages (each stage's error policy is ``streams.retry.RetryLadder``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emostream.streams.facejob import FaceJobHeader


@dataclass(frozen=True)
class Taken:
    """A decoded batch: per face its stream, entry id and header, and all crops in one array."""

    streams: list[str]
    ids: list[bytes]
    headers: list[FaceJobHeader]
    crops: np.ndarray


@dataclass(frozen=True)
class Inferred:
    """A batch after the model: probabilities for the ``fresh`` faces, none for the ``stale`` ones."""

    taken: Taken
    fresh: list[int]
    stale: list[int]
    probabilities: np.ndarray
    taken_ts: float  # wall time the batch went to the model (end of its queue time)
    inference_s: float
