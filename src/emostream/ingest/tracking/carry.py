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
detection frame matches it (or retires it) as usual. Looking (:func:`follow`)
and writing (:func:`apply`) are two steps: with ``detector.on_lost`` ingest
detects on a frame where a track was lost instead (someone else in its
place, a fast turn), from the tracker exactly as a due detection frame finds
it. Tentative tracks are not
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
    predicted = [t.predicted for t in tracker.tracks]
    crossing = _crossing(tracker, candidates, predicted)
    for ti in candidates:
        t = tracker.tracks[ti]
        found = None if ti in crossing else _find(t, t.predicted, image, colour, min_match, tracker.params.appearance_distance)
        if found is not None and not any(iou(found.box, box) > 0 for box in seen):
            _move(t, found, now)
            out.append((found.detection, t.id))
    return out


@dataclass(frozen=True)
class Found:
    """Where a track's face was found on a frame without detection, verified; nothing of it written to the track yet."""

    box: Box
    view: np.ndarray | None  # its appearance descriptor, where it was compared (the track's last view, see tracking/gate.py)
    detection: Detection  # as it is published: the anchor's score and keypoints, moved with the box


@dataclass(frozen=True)
class Followed:
    """A frame without detection, looked at (:func:`follow`) but not yet written to the tracker (:func:`apply`)."""

    motion: list[np.ndarray]  # every track's Kalman state predicted to this frame, in track order
    predicted: list[Box]  # ... and its box
    found: dict[int, Found]  # track index -> its face on this frame
    lost: list[int]  # indices of the tracks published on the frame before that were not found (crossing ones too)


def carry(
    tracker: Tracker, image: np.ndarray, now: float, colour: Literal["bgr", "rgb"], min_match: float
) -> list[tuple[Detection, int]]:
    """A frame without detection: (carried detection, track id) for each confirmed track verified on it, in track order."""
    return apply(tracker, follow(tracker, image, now, colour, min_match), now)


def follow(tracker: Tracker, image: np.ndarray, now: float, colour: Literal["bgr", "rgb"], min_match: float) -> Followed:
    """Each confirmed track published on the frame before, looked for on this frame; the tracker is left as it was.

    So a caller that finds a track lost (``Followed.lost``) may still detect
    on this frame instead, from exactly the state a detection frame starts from.
    """
    motion = [kalman.predict(t.motion) for t in tracker.tracks]
    predicted = [kalman.to_box(m) for m in motion]
    candidates = [ti for ti, t in enumerate(tracker.tracks) if t.confirmed and t.anchor is not None and t.missed == 0]
    crossing = _crossing(tracker, candidates, predicted)
    limit = tracker.params.appearance_distance
    found: dict[int, Found] = {}
    for ti in candidates:
        hit = None if ti in crossing else _find(tracker.tracks[ti], predicted[ti], image, colour, min_match, limit)
        if hit is not None:
            found[ti] = hit
    return Followed(motion, predicted, found, [ti for ti in candidates if ti not in found])


def apply(tracker: Tracker, followed: Followed, now: float) -> list[tuple[Detection, int]]:
    """Write a :func:`follow` to the tracker: (carried detection, track id) of each track found, in track order.

    Every track's prediction is taken; a confirmed track not found counts a
    missed frame and is not carried again before a detection finds it.
    """
    tracker.tally = Tally()
    out = []
    for ti, t in enumerate(tracker.tracks):
        t.motion, t.predicted = followed.motion[ti], followed.predicted[ti]
        if not t.confirmed:
            continue  # decided by the next detection frame
        found = followed.found.get(ti)
        if found is None:
            t.missed += 1
            t.anchor = None
            continue
        _move(t, found, now)
        out.append((found.detection, t.id))
    return out


def _find(
    t: Track, predicted: Box, image: np.ndarray, colour: Literal["bgr", "rgb"], min_match: float, limit: float
) -> Found | None:
    """The track's face near ``predicted``, verified against its template; None when not found. Reads the track only."""
    anchor = t.anchor
    assert anchor is not None
    height, width = image.shape[:2]
    box = _locate(image, predicted, anchor, colour, min_match)
    if box is None:
        return None
    view = None
    if limit > 0 and t.feature is not None and not cut_by_border(box, width, height):
        view = appearance.describe(image, box, colour)
        if appearance.distance(t.feature, view) > limit:
            return None
    base = anchor.detection
    dx, dy = box[0] - base.x, box[1] - base.y
    keypoints = None if base.keypoints is None else tuple((px + dx, py + dy) for px, py in base.keypoints)
    return Found(box, view, Detection(*box, score=base.score, keypoints=keypoints))


def _move(t: Track, found: Found, now: float) -> None:
    """The track onto its face found on this frame (its prediction already taken)."""
    if found.view is not None:
        t.last = found.view  # the last view, which the next detection frame's gate compares with (tracking/gate.py)
    t.motion = kalman.update(t.motion, found.box)
    t.box, t.missed, t.seen_s = found.box, 0, now


def _crossing(tracker: Tracker, candidates: list[int], predicted: list[Box]) -> set[int]:
    """Those of ``candidates`` whose ``predicted`` box (one per track) overlaps another candidate's or a found track's: faces crossing."""
    boxes = [(ti, predicted[ti]) for ti, t in enumerate(tracker.tracks) if ti in candidates or (t.confirmed and t.missed == 0)]
    return {ti for ti in candidates for tj, other in boxes if ti != tj and iou(predicted[ti], other) > CROSSING}


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
