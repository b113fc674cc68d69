"""Between detection frames: confirmed tracks carried to the frame by motion, each carried box verified (``detector.interval``).

The detector is most of an analysed frame's CPU (docs/BENCHMARKS.md, stage
profile). With ``detector.interval`` k > 1 it runs on every k-th analysed frame
only (DeepStream's ``interval``); on the frames between, each confirmed track
that was published on the frame before is carried:

1. its box is predicted one frame ahead by its Kalman filter, as on a detection
   frame;
2. the face is looked for near the prediction: the gray patch of the track's
   face on the last detection frame (its *anchor*, scaled to :data:`PATCH` px)
   is matched by normalised cross-correlation against a window
   :data:`REACH` box sides wider on each side, at the same scale: a few hundred
   pixels, tens of microseconds;
3. the box found must correlate at least ``min_match`` with the anchor, and the
   face in it must look like the track's template by the appearance descriptor
   (within ``tracker.appearance_distance``, as a detection continuing the track
   must): a person replaced by another in the same place between two detection
   frames is not published under the first one's id.

A verified box is that frame's face of the track: its Kalman filter is updated
with it and it is published like a detected one, with the anchor's score and
keypoints moved with the box (the crop stays upright). A track whose box fails
is not published on this frame, nor carried again until a detection finds it:
it counts a missed frame, as it would on a detection frame, and the next
detection frame matches it (or retires it) as usual. Tentative tracks are not
touched between detection frames (their box is still predicted): they are
decided by detections only, so a new face is confirmed, and published, from
the next detection frame. Nothing here learns the track's appearance: the
template is taught by detections alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from emostream.detector.base import Detection, clip_box
from emostream.ingest.tracking import appearance, kalman
from emostream.ingest.tracking.geometry import Box, cut_by_border, iou
from emostream.ingest.tracking.track import Tally, Track
from emostream.ingest.tracking.tracker import Tracker

PATCH = 24  # px: the longer side of a face's anchor patch; the search runs at this scale, whatever the face's size
REACH = 0.35  # box sides the search window reaches past the predicted box on each side
CROSSING = 0.0  # predicted boxes overlapping more than this (IoU) are not carried: one face may be hiding the other


@dataclass
class Anchor:
    """What a track is carried by: its face on the last detection frame that found it, as published, and its gray patch."""

    detection: Detection
    patch: np.ndarray  # gray, float32, the box scaled by ``scale``
    scale: float  # patch px per frame px
    filled: bool = False  # made from a box carried on a detection frame (:func:`fill`): no second fill before a detection


def _gray(image: np.ndarray, box: tuple[int, int, int, int], scale: float, colour: str) -> np.ndarray:
    x, y, w, h = box
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    step = max(1, int(0.5 / scale))  # every step-th pixel first: area averaging over a 1080p face costs more than the rest
    small = cv2.resize(np.ascontiguousarray(image[y : y + h : step, x : x + w : step]), size, interpolation=cv2.INTER_AREA)
    if small.ndim == 3:
        small = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY if colour == "rgb" else cv2.COLOR_BGR2GRAY)
    return small.astype(np.float32)


def remember(
    tracker: Tracker, image: np.ndarray, tracked: list[tuple[Detection, int]], colour: Literal["bgr", "rgb"], filled: frozenset[int] = frozenset()
) -> None:
    """After a detection frame: anchor each published track to its face (``filled``: the ids :func:`fill` published); the rest are not carried."""
    published = {track_id: det for det, track_id in tracked}
    for t in tracker.tracks:
        det = published.get(t.id) if t.confirmed else None
        if det is None or min(det.w, det.h) < 2:
            t.anchor = None
            continue
        scale = PATCH / max(det.w, det.h)
        t.anchor = Anchor(det, _gray(image, det.box, scale, colour), scale, filled=t.id in filled)


def fill(
    tracker: Tracker, image: np.ndarray, now: float, colour: Literal["bgr", "rgb"], min_match: float,
    detections: list[Detection], tracked: list[tuple[Detection, int]],
) -> list[tuple[Detection, int]]:
    """On a detection frame, before :func:`remember`: confirmed tracks the detector just missed, carried where nothing was detected.

    A face the detector misses on one detection frame (a low score, a turned
    head) would otherwise be lost for the ``interval`` frames until the next.
    Only tracks carried to the frame before from a detection (not from an
    earlier fill: a track the detector misses twice in a row is left to it),
    and only where no box of this frame overlaps the carried one (there the
    tracker has decided).
    """
    out = []
    seen = [d.box for d in detections]
    candidates = [ti for ti, t in enumerate(tracker.tracks) if t.confirmed and t.missed == 1 and t.anchor is not None and not t.anchor.filled]
    crossing = _crossing(tracker, candidates)
    for ti in candidates:
        t = tracker.tracks[ti]
        found = None if ti in crossing else _follow(t, image, now, colour, min_match, tracker.params.appearance_distance)
        if found is not None and not any(iou(found.box, box) > 0 for box in seen):
            out.append((found, t.id))
    return out


def carry(
    tracker: Tracker, image: np.ndarray, now: float, colour: Literal["bgr", "rgb"], min_match: float
) -> list[tuple[Detection, int]]:
    """A frame without detection: (carried detection, track id) for each confirmed track verified on it, in track order."""
    tracker.tally = Tally()
    out = []
    for t in tracker.tracks:
        t.motion = kalman.predict(t.motion)
        t.predicted = kalman.to_box(t.motion)
    candidates = [ti for ti, t in enumerate(tracker.tracks) if t.confirmed and t.anchor is not None and t.missed == 0]
    crossing = _crossing(tracker, candidates)
    for ti, t in enumerate(tracker.tracks):
        if not t.confirmed:
            continue  # decided by the next detection frame
        found = _follow(t, image, now, colour, min_match, tracker.params.appearance_distance) if ti in candidates and ti not in crossing else None
        if found is None:
            t.missed += 1
            t.anchor = None
            continue
        out.append((found, t.id))
    return out


def _follow(t: Track, image: np.ndarray, now: float, colour: Literal["bgr", "rgb"], min_match: float, limit: float) -> Detection | None:
    """The track's face near its prediction, verified, with the track moved onto it; None (the track untouched) when not found."""
    anchor = t.anchor
    assert anchor is not None
    height, width = image.shape[:2]
    found = _locate(image, t.predicted, anchor, colour, min_match)
    if found is None:
        return None
    if limit > 0 and t.feature is not None and not cut_by_border(found, width, height):
        feature = appearance.describe(image, found, colour)
        if appearance.distance(t.feature, feature) > limit:
            return None
        t.last = feature  # the last view, which the next detection frame's gate compares with (tracking/gate.py)
    t.motion = kalman.update(t.motion, found)
    t.box, t.missed, t.seen_s = found, 0, now
    base = anchor.detection
    dx, dy = found[0] - base.x, found[1] - base.y
    keypoints = None if base.keypoints is None else tuple((px + dx, py + dy) for px, py in base.keypoints)
    return Detection(*found, score=base.score, keypoints=keypoints)


def _crossing(tracker: Tracker, candidates: list[int]) -> set[int]:
    """Those of ``candidates`` whose predicted boxes overlap another candidate's or a track just found: faces crossing, left to detection."""
    boxes = [(ti, t.predicted) for ti, t in enumerate(tracker.tracks) if ti in candidates or (t.confirmed and t.missed == 0)]
    return {ti for ti in candidates for tj, other in boxes if ti != tj and iou(tracker.tracks[ti].predicted, other) > CROSSING}


def _locate(image: np.ndarray, predicted: Box, anchor: Anchor, colour: str, min_match: float) -> Box | None:
    """The anchor's box moved to where its patch correlates best near ``predicted``; None below ``min_match`` or off the frame."""
    height, width = image.shape[:2]
    w, h = anchor.detection.w, anchor.detection.h
    cx, cy = predicted[0] + predicted[2] / 2, predicted[1] + predicted[3] / 2
    reach = REACH * max(w, h)
    x0, y0 = max(0, round(cx - w / 2 - reach)), max(0, round(cy - h / 2 - reach))
    x1, y1 = min(width, round(cx + w / 2 + reach)), min(height, round(cy + h / 2 + reach))
    ph, pw = anchor.patch.shape
    window = _gray(image, (x0, y0, x1 - x0, y1 - y0), anchor.scale, colour) if x1 > x0 and y1 > y0 else None
    if window is None or window.shape[0] < ph or window.shape[1] < pw:
        return None
    scores = cv2.matchTemplate(window, anchor.patch, cv2.TM_CCOEFF_NORMED)
    _, best, _, (bx, by) = cv2.minMaxLoc(scores)
    if not best >= min_match:  # NaN (a flat patch) fails too
        return None
    return clip_box(x0 + bx / anchor.scale, y0 + by / anchor.scale, w, h, width, height)
