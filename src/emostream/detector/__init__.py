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

    vouched = cfg.check_vouched if cfg.check_vouched is not None else VOUCHED.get(cfg.backend, 1.01)
    return FaceCheck(
        cfg.check_misfit, cfg.check_close, cfg.check_close_alone, cfg.check_wide, mirror=cfg.check_mirror, vouched=vouched, low_close=cfg.check_low
    )


#: The detector score from which a candidate needs only :data:`~emostream.detector.check.VOUCHED_CLOSE` on the close-up.
#: YuNet's: on the scene benchmark's ``tune`` split the true faces the close-up refused (0.52-0.70) scored 0.75-0.91 in
#: YuNet, the faceless candidates with a face's layout and such a close-up at most 0.70 (docs/decisions.md).
VOUCHED = {"yunet": 0.75}
