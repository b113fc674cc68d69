"""The detector interface."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from types import TracebackType
from typing import ClassVar, Literal

import numpy as np

Keypoints = tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Detection:
    """A face box in frame pixels, its score in 0..1, and the landmarks where the detector gives them.

    ``keypoints`` (BlazeFace) are six (x, y) points in frame pixels, in
    MediaPipe's order: right eye, left eye, nose tip, mouth centre, right ear
    tragion, left ear tragion; "right" is the person's right, so on an
    unmirrored image the right eye has the smaller x. They are not clipped to
    the frame (an ear may lie outside it). None where the detector has no
    landmarks (Haar).
    """

    x: int
    y: int
    w: int
    h: int
    score: float
    keypoints: Keypoints | None = None

    @property
    def box(self) -> tuple[int, int, int, int]:
        return (self.x, self.y, self.w, self.h)


class Detector(ABC):
    """``detect_native`` takes pixels in ``colour``, so ingest can decode straight to it.

    BlazeFace wants RGB: asking FFmpeg for RGB while it converts from YUV costs
    nothing extra, where converting a whole decoded BGR frame again costs a
    full pass over it per analysed frame. ``detect`` keeps a BGR entry point
    for callers that already hold a BGR image (OpenCV's ``imread``).
    """

    name: str
    colour: ClassVar[Literal["bgr", "rgb"]] = "bgr"

    @abstractmethod
    def detect_native(self, image: np.ndarray) -> list[Detection]:
        """Faces in one frame whose pixels are in ``colour``, boxes clipped to the frame."""

    def detect(self, frame_bgr: np.ndarray) -> list[Detection]:
        """Faces in one BGR frame, boxes clipped to the frame."""
        if self.colour == "bgr":
            return self.detect_native(frame_bgr)
        return self.detect_native(np.ascontiguousarray(frame_bgr[:, :, ::-1]))

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
