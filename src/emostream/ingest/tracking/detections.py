"""Between the detector and the tracker: which detections are confident, and the low-score ones for the second pass.

ByteTrack's insight is that a face the detector is briefly unsure about (motion
blur, a turned head, a hand in front) is still the face the track follows. So
ingest asks the detector (YuNet or BlazeFace) for boxes down to ``tracker.low_score``; those at or
above ``detector.min_score`` are faces as before, those in between are used
only to continue a track and are otherwise dropped, so the threshold a user set
still decides what starts a face. Haar's score is no probability (a squashed
cascade weight) and it has no threshold to lower: all its boxes are confident.
"""

from __future__ import annotations

import functools
from typing import Literal

import numpy as np

from emostream.config import DetectorConfig, TrackerConfig
from emostream.detector import Detection, min_score
from emostream.detector.check import FaceCheck
from emostream.ingest.tracking.track import Check
from emostream.ingest.tracking.tracker import Tracker

SCORED = ("yunet", "mediapipe", "blazeface")  # the backends whose score is a probability with a threshold to lower


def detector_config(detector: DetectorConfig, tracker: TrackerConfig) -> DetectorConfig:
    """The detector settings ingest builds its detector with: down to ``low_score`` when that is lower."""
    if detector.backend not in SCORED or tracker.low_score >= min_score(detector):
        return detector
    return detector.model_copy(update={"min_score": tracker.low_score})


def confident_from(detector: DetectorConfig) -> float:
    """The score from which a detection is a face in its own right."""
    return min_score(detector) if detector.backend in SCORED else 0.0


def track_faces(
    tracker: Tracker, frame: np.ndarray, detections: list[Detection], threshold: float, now: float, colour: Literal["bgr", "rgb"] = "bgr",
    check: FaceCheck | None = None,
) -> list[tuple[Detection, int]]:
    """(detection, track id) for each face to publish, confident ones first, in detector order within each group.

    Faces of tracks not yet confirmed are left out; ``tracker.tally`` counts them. With a ``check``, a
    new track is confirmed only once its face passes it; the tracker asks only for candidates it would
    confirm, so the check costs a second look per candidate, not per face. A low-score box may start a
    track too where the check's ``low_close`` is on: confirmed only by :meth:`FaceCheck.passes_low`.
    """
    sure = [d for d in detections if d.score >= threshold]
    unsure = [d for d in detections if d.score < threshold]
    checks: list[Check | None] | None = None if check is None else [functools.partial(check.passes, frame, d, colour) for d in sure]
    starts: list[Check | None] | None = None  # low-score boxes that may start a track, on the check's stricter terms
    if check is not None and check.low_close <= 1:
        starts = [functools.partial(check.passes_low, frame, d, colour) for d in unsure]
    ids = tracker.track(frame, [d.box for d in sure], [d.box for d in unsure], now, colour, [d.score for d in sure], checks, starts)
    return [(d, track) for d, track in zip(sure + unsure, ids, strict=True) if track is not None]
