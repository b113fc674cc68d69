"""Face detectors behind one small interface: BlazeFace (MediaPipe Tasks or LiteRT) or OpenCV Haar."""

from __future__ import annotations

from typing import TYPE_CHECKING

from emostream.config import DetectorConfig
from emostream.detector.base import Detection, Detector

if TYPE_CHECKING:
    from emostream.detector.check import FaceCheck

__all__ = ["Detection", "Detector", "make_check", "make_detector"]


def make_detector(cfg: DetectorConfig) -> Detector:
    """Build the configured detector; call once per worker (or source thread), not per frame."""
    if cfg.backend == "mediapipe":
        from emostream.detector.blazeface import BlazeFaceDetector

        return BlazeFaceDetector(cfg.mediapipe_model, cfg.min_score)
    if cfg.backend == "blazeface":
        from emostream.detector.litert import LiteRTBlazeFace

        return LiteRTBlazeFace(cfg.range, cfg.min_score, cfg.tile_px)
    from emostream.detector.haar import HaarDetector

    return HaarDetector()


def make_check(cfg: DetectorConfig) -> FaceCheck | None:
    """The second look at new tracks' faces (``detector.check``), or None when it is off; one per source thread, like the detector."""
    if not cfg.check:
        return None
    from emostream.detector.check import FaceCheck

    return FaceCheck(cfg.check_misfit, cfg.check_close, cfg.check_close_alone, cfg.check_wide, mirror=cfg.check_mirror)
