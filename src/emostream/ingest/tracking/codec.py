"""numpy arrays in the JSON checkpoint: exact (base64 of the raw bytes), compact, and never pickle."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np


def pack(array: np.ndarray) -> str:
    """float64 for the Kalman state, float32 for descriptors: whatever dtype the array has is kept by ``unpack``'s caller."""
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def unpack(text: Any, dtype: type[np.floating[Any]], shape: tuple[int, ...]) -> np.ndarray:
    """The array ``pack`` wrote; a clear error when the checkpoint holds something else."""
    raw = base64.b64decode(str(text), validate=True)
    array = np.frombuffer(raw, dtype=dtype).copy()
    if array.size != int(np.prod(shape)):
        raise ValueError(f"tracker checkpoint: expected {shape} values, found {array.size}")
    return array.reshape(shape)
