"""The detector interface."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from types import TracebackType

import numpy as np


@dataclass(frozen=True)
class Detection:
    x: int
    y: int
    w: int
    h: int
    score: float

    @property
    def box(self) -> tuple[int, int, int, int]:
        return (self.x, self.y, self.w, self.h)


class Detector(ABC):
    name: str

    @abstractmethod
    def detect(self, frame_bgr: np.ndarray) -> list[Detection]:
        """Faces in one BGR frame, boxes clipped to the frame."""

    def close(self) -> None:  # noqa: B027 - an optional hook: most detectors hold nothing to release
        """Release native resources."""

    def __enter__(self) -> Detector:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def clip_box(x: float, y: float, w: float, h: float, width: int, height: int) -> tuple[int, int, int, int] | None:
    """Round and clip a box to the frame; None when nothing of it is inside."""
    x0, y0 = max(0, round(x)), max(0, round(y))
    x1, y1 = min(width, round(x + w)), min(height, round(y + h))
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1 - x0, y1 - y0
