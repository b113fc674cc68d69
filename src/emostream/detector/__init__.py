"""Face detectors behind one small interface: YuNet (ONNX Runtime), BlazeFace (MediaPipe Tasks or LiteRT) or OpenCV Haar."""

from __future__ import annotations

from typing import TYPE_CHECKING

from emostream.config import DetectorConfig
from emostream.detector.base import Detection, Detector

if TYPE_CHECKING:
    from emostream.detector.check import FaceCheck

__all__ = ["Detection", "Detector", "make_check", "make_detector"]


def make_detector(cfg: DetectorConfig) -> Detector:
    """Build the configured detector; call once per worker (or source thread), not per frame."""
    if cfg.backend == "yunet":
        from emostream.detector.yunet import YuNetDetector

        return YuNetDetector(min_score(cfg), cfg.max_side, landmarks=cfg.landmarks == "blazeface")
    if cfg.backend == "mediapipe":
        from emostream.detector.blazeface import BlazeFaceDetector

        return BlazeFaceDetector(cfg.mediapipe_model, min_score(cfg))
    if cfg.backend == "blazeface":
        from emostream.detector.litert import LiteRTBlazeFace

        return LiteRTBlazeFace(cfg.range, min_score(cfg), cfg.tile_px)
    from emostream.detector.haar import HaarDetector

    return HaarDetector()


#: Each backend's own minimum score, where ``detector.min_score`` is unset: YuNet's is the score at which it made no
#: false face on the scene benchmark's faceless clips before the check (docs/decisions.md); BlazeFace's is MediaPipe's.
DEFAULT_MIN_SCORE = {"yunet": 0.6, "mediapipe": 0.5, "blazeface": 0.5, "haar": 0.0}


def min_score(cfg: DetectorConfig) -> float:
    return DEFAULT_MIN_SCORE[cfg.backend] if cfg.min_score is None else cfg.min_score


def make_check(cfg: DetectorConfig) -> FaceCheck | None:
    """The second look at new tracks' faces (``detector.check``), or None when it is off; one per source thread, like the detector."""
    if not cfg.check:
        return None
    from emostream.detector.check import FaceCheck

    close, alone = check_thresholds(cfg)
    return FaceCheck(cfg.check_misfit, close, alone, cfg.check_wide, mirror=cfg.check_mirror)


def check_thresholds(cfg: DetectorConfig) -> tuple[float, float]:
    """(check_close, check_close_alone), each the backend's own where unset.

    YuNet's candidates that reach the check (score 0.6 and more, a face's
    layout) are faces far more often than BlazeFace's: on the scene
    benchmark's ``tune`` split no faceless box of YuNet's had both, while 3 %
    of true faces scored 0.5-0.7 on the close-up and were refused; so for
    YuNet the close-up needs 0.5 and decides alone (docs/decisions.md).
    """
    yunet = cfg.backend == "yunet"
    close = cfg.check_close if cfg.check_close is not None else 0.5 if yunet else 0.7
    alone = cfg.check_close_alone if cfg.check_close_alone is not None else max(close, 0.5) if yunet else 0.8
    return close, alone
