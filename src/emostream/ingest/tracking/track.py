"""What the tracker keeps: its parameters, the detections it is given, live tracks and retired ones."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from emostream.ingest.tracking import kalman
from emostream.ingest.tracking.geometry import Box

Check = Callable[[], bool]  # is this detection a face? (a second look; see detector/check.py)


@dataclass(frozen=True)
class TrackerParams:
    iou_threshold: float = 0.3
    max_missed: int = 5
    max_distance: float = 1.0
    appearance_distance: float = 0.17  # 0 turns the appearance check off (motion only)
    reid_window_s: float = 2.0  # 0: no re-identification
    reid_distance: float = 0.12
    confirm_hits: int = 1  # a new track may be published from its confirm_hits-th consecutive hit (1: at once) ...
    confirm_score: float = 0.7  # ... or from a hit scoring at least this (above 1: never) ...
    check_tries: int = 3  # ... once its face passes the check (Observation.check, where given), tried at most this many times


@dataclass(frozen=True)
class Observation:
    """One detection as the tracker sees it."""

    box: Box
    feature: np.ndarray | None  # appearance descriptor; None: unknown (checked by motion only)
    confident: bool = True  # False: a low-score detection, only used to continue a track
    score: float = 1.0  # the detector's score (1.0: unknown, taken as sure)
    check: Check | None = None  # is it a face? asked only when a tentative track would be confirmed by it (None: yes)
    frame: tuple[int, int] | None = None  # (width, height) of its frame, where known: is it cut by the border (tracking/gate.py)


@dataclass
class Track:
    id: int
    motion: np.ndarray  # Kalman state, see tracking/kalman.py
    box: Box  # last observed box
    feature: np.ndarray | None
    seen_s: float  # session time of the last observation
    missed: int = 0
    hits: int = 1
    predicted: Box = (0, 0, 0, 0)
    reid_open: bool = False  # a new track that may still turn out to be someone who left (see _continue)
    last: np.ndarray | None = None  # descriptor of the last view, cut or not (tracking/gate.py: is the change gradual)
    clear_size: float = 0.0  # the face's box side when nothing covers it, from the views learned (gate.remember; 0: unknown)
    confirmed: bool = True  # False: tentative, its faces are not published and its id is provisional (negative)
    checks: int = 0  # face checks this tentative track failed (Tracker: tries up to TrackerParams.check_tries)
    next_check: int = 0  # hits from which the next check may be tried (spaced 1, 2, 4 ... hits after each failure)
    low_checks: int = 0  # ... and the same two for the stricter check of low-score boxes (detector.check_low)
    next_low: int = 0
    anchor: Any = None  # between detection frames: what carries it (tracking/carry.Anchor; never checkpointed, None: not carried)

    @classmethod
    def start(cls, track_id: int, obs: Observation, now: float) -> Track:
        side = math.sqrt(max(obs.box[2] * obs.box[3], 1))
        return cls(track_id, kalman.initiate(obs.box), obs.box, obs.feature, now, predicted=obs.box, last=obs.feature, clear_size=side)


@dataclass
class Tally:
    """What the tracker kept back in one frame (see ``Tracker.update``), for the metrics."""

    unconfirmed_faces: int = 0  # faces of tentative tracks, not published
    confirmed: int = 0  # tracks confirmed in this frame (their faces are published from now on)
    unconfirmed: int = 0  # tentative tracks that ended unconfirmed in this frame
    checked: int = 0  # face checks run in this frame (each a second look at one candidate)
    rejected: int = 0  # ... of which failed: the candidate did not look like a face


@dataclass
class Gone:
    """A retired track, kept for re-identification until ``seen_s + reid_window_s``: an id and a descriptor, no image."""

    id: int
    feature: np.ndarray
    seen_s: float
