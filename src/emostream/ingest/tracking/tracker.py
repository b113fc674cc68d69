"""Stable ids for faces across analysed frames, one id per person: motion and appearance, ByteTrack style (see :class:`Tracker`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from emostream.ingest.tracking import appearance, confirm, gate, kalman, persist
from emostream.ingest.tracking.geometry import Box, centre_distance, cut_by_border, iou, similar_size
from emostream.ingest.tracking.track import Check, Gone, Observation, Tally, Track, TrackerParams

__all__ = ["Box", "Observation", "Tracker", "TrackerParams", "iou"]

FEATURE_KEEP = 0.9  # weight of a track's descriptor against each new observation (exponential moving average)
PROBATION = 5  # a new track's first observations may still re-identify it (its first boxes were cut or hidden)


@dataclass
class Tracker:
    """One tracker per source and session. Each analysed frame:

    1. every track's box is predicted one frame ahead by a Kalman filter
       (``tracking/kalman.py``);
    2. **confident detections** (score at least ``detector.min_score``) are
       matched to tracks, greedily, best pair first: first by overlap with the
       predicted (or last) box, IoU at least ``iou_threshold``; then, for a face
       that moved more than its own width at a low analysis rate, by the distance
       between centres (at most ``max_distance`` box sizes per missed frame, boxes
       of similar size). **Every pair must also look alike**: the cosine distance
       between the track's appearance descriptor and the detection's
       (``tracking/appearance.py``) must be at most ``appearance_distance``, so a
       different person at the same place starts a new track at once. Then, among
       the tracks and faces left, a pair that motion alone decides may pass a
       gradual or partial change (a face going behind something, ``tracking/gate.py``);
    3. **low-score detections** (between ``tracker.low_score`` and
       ``detector.min_score``) only continue tracks still unmatched, by overlap and
       appearance (ByteTrack's second pass): a face the detector is briefly unsure
       about (blur, a turned head) keeps its track; one that continues nothing is
       dropped, or, where ingest gives low boxes a check (``detector.check_low``),
       starts a tentative track that only that stricter check confirms;
    4. a confident detection left over is compared with the people who left within
       ``reid_window_s`` (re-identification, off at 0): if it looks like one of them
       (at most ``reid_distance``) it gets that person's id back, else it starts a
       new, tentative track.

    **Confirmation** (ByteTrack's activation, ``tracking/confirm.py``): a new track is
    tentative until ``confirm_hits`` consecutive analysed frames found it, or one
    detection scored at least ``confirm_score``, and its face passed the check where
    ingest gives one; a tentative track that misses a frame ends. Its faces get no
    id (None) and are counted in :attr:`tally`. Tentative tracks carry provisional negative ids;
    a track gets its public id, the next of 1, 2, 3 ..., when it is confirmed, so a
    blip that never was confirmed leaves no gap in the ids users see. A returning
    person (re-identification) is confirmed at once: they were before.

    A track that finds no detection survives ``max_missed`` analysed frames; then
    it is retired, and kept (descriptor, last box, when last seen) only while
    re-identification may still claim it. Ids are never reused for another person
    within a session. Boxes cut by the frame border show part of a face: their
    appearance is neither checked nor learned, motion alone decides, but only for
    a track that was at that border already (``gate.elsewhere``).

    Greedy matching, not an optimal assignment (Hungarian / LAPJV): with the few faces
    of one camera the two agree except for contrived ties, at microseconds' cost.
    """
    params: TrackerParams = field(default_factory=TrackerParams)
    tracks: list[Track] = field(default_factory=list)
    gone: list[Gone] = field(default_factory=list)
    tally: Tally = field(default_factory=Tally)  # the last update's, see :class:`Tally`
    _next_id: int = 1
    _next_tentative: int = -1

    # --- one frame --------------------------------------------------------------

    def track(
        self, frame: np.ndarray, confident: list[Box], low: list[Box], now: float, colour: Literal["bgr", "rgb"] = "bgr",
        scores: list[float] | None = None, checks: list[Check | None] | None = None, starts: list[Check | None] | None = None,
    ) -> list[int | None]:
        """Ids for ``confident + low`` boxes (None: not published); ``scores``, ``checks``: the confident ones'; ``starts``: low ones'."""
        height, width = frame.shape[:2]
        use_appearance = self.params.appearance_distance > 0 or self.params.reid_window_s > 0

        def observe(box: Box, sure: bool, score: float, check: Check | None = None) -> Observation:
            feature = appearance.describe(frame, box, colour) if use_appearance and not cut_by_border(box, width, height) else None
            return Observation(box, feature, sure, score, check, (width, height))

        sure_scores = scores if scores is not None else [1.0] * len(confident)
        sure_checks = checks if checks is not None else [None] * len(confident)
        observations = [observe(b, True, s, c) for b, s, c in zip(confident, sure_scores, sure_checks, strict=True)]
        lows = [observe(b, False, 0.0, c) for b, c in zip(low, starts if starts is not None else [None] * len(low), strict=True)]
        return self.update(observations + lows, now)

    def update(self, observations: list[Observation], now: float) -> list[int | None]:
        """Published track ids for ``observations``, in their order (None: not published); ``now``: session time, s."""
        p = self.params
        self.tally = Tally()
        for t in self.tracks:
            t.motion = kalman.predict(t.motion)
            t.predicted = kalman.to_box(t.motion)
        ids: list[int | None] = [None] * len(observations)
        used: dict[int, int] = {}  # track index -> the observation it took this frame
        sure = [i for i, o in enumerate(observations) if o.confident]
        unsure = [i for i, o in enumerate(observations) if not o.confident]
        self._assign(self._overlap_pairs(sure, observations), observations, ids, used, now)
        if p.max_distance > 0:
            self._assign(self._distance_pairs(sure, observations, ids, used), observations, ids, used, now)
        before = set(used)
        self._assign(self._motion_pairs(sure, observations, ids, used), observations, ids, used, now)
        carried = {ti for ti in used if ti not in before and not gate.is_cut(observations[used[ti]].box, self.tracks[ti])}
        starts = [i for i in unsure if observations[i].check is not None]  # low boxes that may start a track
        recent = {ti for ti, t in enumerate(self.tracks) if t.missed == 0 and (t.confirmed or starts)}  # ByteTrack's second pass
        self._assign(self._overlap_pairs(unsure, observations, only=recent - used.keys()), observations, ids, used, now)
        absorbed = self._settle_newcomers(observations, ids, used, carried)
        for ti, t in enumerate(self.tracks):
            if ti not in used:
                t.missed += 1
        self.tracks = [t for ti, t in enumerate(self.tracks) if ti not in absorbed]
        self._retire(now)
        for i in sure:
            if ids[i] is None:
                ids[i] = self._reidentify(observations[i], now) or self._new_track(observations[i], now)
        for i in starts:  # a low-score box nothing took: a tentative track, confirmed only by its check (no re-identification)
            if ids[i] is None:
                ids[i] = self._new_track(observations[i], now)
        self.tally.unconfirmed_faces = sum(1 for i in ids if i is not None and i < 0)
        return [i if i is None or i > 0 else None for i in ids]

    # --- matching ------------------------------------------------------------------

    def _looks_alike(self, ti: int, obs: Observation) -> tuple[bool, float]:
        """(allowed, appearance distance to the track's template); unknown appearance is allowed at 0."""
        return gate.allowed(self.tracks[ti], obs, self.params.appearance_distance, alone=False)

    def _overlap_pairs(self, indices: list[int], observations: list[Observation], only: set[int] | None = None) -> list[tuple[float, int, int]]:
        pairs = []
        for ti, t in enumerate(self.tracks):
            if only is not None and ti not in only:
                continue
            for i in indices:
                box = observations[i].box
                overlap = max(iou(t.predicted, box), iou(t.box, box))
                if overlap < self.params.iou_threshold:
                    continue
                alike, d = self._looks_alike(ti, observations[i])
                if alike:
                    pairs.append((1.0 - overlap + d, ti, i))
        return sorted(pairs)

    def _distance_pairs(self, indices: list[int], observations: list[Observation], ids: list[int | None], used: dict[int, int]) -> list[tuple[float, int, int]]:
        pairs = []
        for ti, t in enumerate(self.tracks):
            if ti in used:
                continue
            reach = self.params.max_distance * (1 + t.missed)
            for i in indices:
                box = observations[i].box
                if ids[i] is not None or not similar_size(t.box, box):
                    continue
                dist = min(centre_distance(t.predicted, box), centre_distance(t.box, box))
                alike, d = self._looks_alike(ti, observations[i])
                if dist <= reach and alike:
                    pairs.append((dist / reach + d, ti, i))
        return sorted(pairs)

    def _motion_pairs(self, indices: list[int], observations: list[Observation], ids: list[int | None], used: dict[int, int]) -> list[tuple[float, int, int]]:
        """Among the tracks and detections left over, the pairs motion alone decides (``tracking/gate.py``)."""
        left = [ti for ti in range(len(self.tracks)) if ti not in used]
        return gate.motion_pairs(self.tracks, left, observations, [i for i in indices if ids[i] is None], self.params)

    def _assign(self, pairs: list[tuple[float, int, int]], observations: list[Observation], ids: list[int | None], used: dict[int, int], now: float) -> None:
        """Greedy: take pairs best first, skipping tracks and detections already matched."""
        for _cost, ti, i in pairs:
            if ti in used or ids[i] is not None:
                continue
            self._continue(self.tracks[ti], observations[i], now)
            used[ti] = i
            ids[i] = self.tracks[ti].id

    def _continue(self, t: Track, obs: Observation, now: float) -> None:
        t.motion = kalman.update(t.motion, obs.box)
        t.box, t.missed, t.seen_s = obs.box, 0, now
        t.hits += 1
        if not t.confirmed and confirm.due(t, obs, self.params, self.tally):
            self._confirm(t)
        if gate.remember(t, obs, self.params.appearance_distance) and obs.feature is not None:
            t.feature = obs.feature if t.feature is None else appearance.blend(t.feature, obs.feature, FEATURE_KEEP)

    def _settle_newcomers(self, observations: list[Observation], ids: list[int | None], used: dict[int, int], carried: set[int]) -> set[int]:
        """Let young tracks turn out to be someone known; returns the indices of live tracks they took over.

        A face first seen cut by the border or half hidden (coming out from behind
        someone) looks like no one, and gets a new id. Its first clear views, within
        its first ``PROBATION`` faces, may still show who it is: a person who left
        within the window, or a track in its grace period that has been missing since
        before this frame. From then on it carries that id; its first few faces keep the
        id they were published with. So may a track whose whole view motion alone let
        through (``carried``): born of a partial view, it does not look like its template.
        """
        absorbed: set[int] = set()
        for ti, i in used.items():
            t, feature = self.tracks[ti], observations[i].feature
            if (t.reid_open or ti in carried) and feature is not None:
                # Live tracks already missing before this frame (a single missed detection is no departure).
                waiting = [tj for tj, w in enumerate(self.tracks) if tj not in used and tj not in absorbed and w.missed >= 1 and w.confirmed]
                found = self._claim(feature, waiting, in_place={tj for tj in waiting if gate.overlap(self.tracks[tj], t.box) >= self.params.iou_threshold})
                if found is not None:
                    (t.id, known, taken), t.reid_open, t.confirmed = found, False, True
                    t.feature = appearance.blend(known, feature, FEATURE_KEEP)
                    ids[i] = t.id
                    absorbed |= taken
            t.reid_open = t.reid_open and t.hits < PROBATION
        return absorbed

    # --- births, deaths and returns ----------------------------------------------------

    def _retire(self, now: float) -> None:
        keep = []
        for t in self.tracks:
            if t.missed <= (self.params.max_missed if t.confirmed else 0):  # a tentative track must be found every frame
                keep.append(t)
            elif not t.confirmed:
                self.tally.unconfirmed += 1
            elif self.params.reid_window_s > 0 and t.feature is not None:
                self.gone.append(Gone(t.id, t.feature, t.seen_s))
        self.tracks = keep
        # Nothing is kept past the window: a person who left longer ago is forgotten.
        self.gone = [g for g in self.gone if now - g.seen_s <= self.params.reid_window_s]

    def _claim(self, feature: np.ndarray, waiting: list[int], in_place: frozenset[int] | set[int] = frozenset()) -> tuple[int, np.ndarray, set[int]] | None:
        """(id, descriptor, live track indices taken) of the known person who looks most like ``feature``, if any.

        Candidates: people who left within the window (forgotten once claimed), and
        the live tracks ``waiting`` for a detection (the caller drops those taken).
        """
        if self.params.reid_window_s <= 0:
            return None
        limit = self.params.reid_distance
        best: tuple[float, int, bool] | None = None  # distance, index, is a live track
        for gi, g in enumerate(self.gone):
            d = appearance.distance(g.feature, feature)
            if d <= limit and (best is None or d < best[0]):
                best = (d, gi, False)
        for tj in waiting:
            known = self.tracks[tj].feature
            if known is not None:
                d = appearance.distance(known, feature)
                if d <= (self.params.appearance_distance if tj in in_place else limit) and (best is None or d < best[0]):
                    best = (d, tj, True)
        if best is None:
            return None
        if best[2]:
            live = self.tracks[best[1]]
            return live.id, live.feature if live.feature is not None else feature, {best[1]}
        gone = self.gone.pop(best[1])
        return gone.id, gone.feature, set()

    def _reidentify(self, obs: Observation, now: float) -> int | None:
        """Start the track of a known person under their id; None if ``obs`` looks like no one known."""
        if obs.feature is None:
            return None
        waiting = [tj for tj, t in enumerate(self.tracks) if t.missed >= 2 and t.confirmed]  # missing before this frame too
        found = self._claim(obs.feature, waiting)
        if found is None:
            return None
        track_id, known, taken = found
        self.tracks = [t for tj, t in enumerate(self.tracks) if tj not in taken]
        track = Track.start(track_id, obs, now)
        track.feature = appearance.blend(known, obs.feature, FEATURE_KEEP)
        self.tracks.append(track)
        return track_id

    def _new_track(self, obs: Observation, now: float) -> int:
        """A tentative track (provisional negative id), confirmed at once where its first hit is enough (``confirm.due``)."""
        track = Track.start(self._next_tentative, obs, now)
        track.reid_open, track.confirmed = self.params.reid_window_s > 0, False
        self._next_tentative -= 1
        if confirm.due(track, obs, self.params, self.tally):
            self._confirm(track)
        self.tracks.append(track)
        return track.id

    def _confirm(self, track: Track) -> None:
        """From now on the track's faces are published, under the next public id."""
        track.id, track.confirmed = self._next_id, True
        self._next_id += 1
        self.tally.confirmed += 1

    def pending(self) -> int:
        """Tentative tracks still open (at the end of a session: tracks that ended unconfirmed)."""
        return sum(1 for t in self.tracks if not t.confirmed)

    def state(self) -> dict[str, Any]:
        """Everything needed to continue tracking after a restart (see ingest/checkpoint.py); exact, JSON-safe."""
        return persist.encode(persist.Saved(self._next_id, self._next_tentative, self.tracks, self.gone))

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state` (also reads checkpoints written by older versions, see ``tracking/persist.py``)."""
        saved = persist.decode(state)
        self._next_id, self._next_tentative, self.tracks, self.gone = saved.next_id, saved.next_tentative, saved.tracks, saved.gone
