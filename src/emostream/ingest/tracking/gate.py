"""Whether a detection may continue a track by appearance: the template first, then motion where it is unambiguous.

A face going behind a pillar (or a hand, or another head) changes what the
gray descriptor sees from one frame to the next, gradually, until it no
longer looks like the track's template; a different person taking the same
place changes it at once. So, as DeepSORT and BoT-SORT let motion decide
where only one pairing is possible, a pair beyond the template gate is still
allowed when motion leaves no choice (the track has no other detection near,
and the detection no other track seen in the previous frame) and either

- the change since the track's *last* view is gradual (at most the gate); or
- the box is cut (markedly smaller than the track's last clear view,
  ``PARTIAL``) and the track's last view was already cut or beyond its gate:
  the face is going behind something, or coming out. Like a box cut by the
  frame border it shows part of a face; its appearance is not checked.

A box cut by the frame border has no descriptor; it may continue only a
track that was at that border already (its last or predicted box reaches
it): a face coming into the picture or leaving it there. Next to a track
in the open it is someone else (a person sitting down where another got up,
their larger box reaching the border): a new track (:func:`elsewhere`).

Views let through by motion alone are not learned (:func:`learns`).
"""

from __future__ import annotations

import math

from emostream.ingest.tracking import appearance
from emostream.ingest.tracking.geometry import Box, centre_distance, cut_by_border, edges, iou, similar_size
from emostream.ingest.tracking.track import Observation, Track, TrackerParams

PARTIAL = 0.85  # a box this much smaller (side) than the track's clear size shows part of the face
GROW, SHRINK = 0.1, 0.5  # how far the clear size moves towards a learned view's size when that is larger, or smaller
YOUNG = 3  # a track's first views all teach its clear size (its first box alone may be an outlier)
DOMINANT = 0.5  # a pair overlapping this much is ambiguous only by rivals that overlap too (see unambiguous)
AT_EDGE = 0.1  # a track's box this close to a border (fraction of its side) is at it (see elsewhere)


def size(box: Box) -> float:
    return math.sqrt(max(box[2] * box[3], 1))


def is_cut(box: Box, track: Track) -> bool:
    """True when ``box`` is markedly smaller than the track's clear size: something in front cuts the face."""
    return track.clear_size > 0 and size(box) < PARTIAL * track.clear_size


def _hidden_already(track: Track, limit: float) -> bool:
    """The track's last view was already cut or beyond its template's gate: it is going behind something.

    A face is hidden gradually; a person replaced by another at the same place
    (a cut in the footage, a new person sitting down) changes at once, from a
    clear view to a different face, whatever its box.
    """
    if is_cut(track.box, track):
        return True
    return track.last is not None and track.feature is not None and appearance.distance(track.feature, track.last) > limit


def remember(track: Track, obs: Observation, limit: float) -> bool:
    """Keep what the track needs of this view (last view, clear size); True: learn it into the template.

    The clear size (the face's side when nothing covers it) follows the views
    the template learns, and every whole view of a young track: down at once
    (``SHRINK``), up slowly (``GROW``). The detector's box for one face may
    alternate between two sizes (BlazeFace's two ranges give boxes some 25 %
    apart), and a first box may be an outlier: a clear size set by the larger
    ones made every normal box look cut, so the track stopped learning and any
    face smaller than it passed as the same one going behind something.
    """
    if obs.feature is None:
        return False
    track.last = obs.feature
    learn = learns(track, obs, limit)
    if learn or track.hits <= YOUNG:
        side = size(obs.box)
        step = GROW if side > track.clear_size else SHRINK
        track.clear_size = side if track.clear_size <= 0 else track.clear_size + step * (side - track.clear_size)
    return learn


def learns(track: Track, obs: Observation, limit: float) -> bool:
    """Whether the track learns this view: a whole view (not cut) within the gate of its template.

    Views let through by motion alone are not learned: the template stays the
    person's clear face, which they are compared with again once in the open.
    """
    if obs.feature is None or is_cut(obs.box, track):
        return False
    return limit <= 0 or track.feature is None or appearance.distance(track.feature, obs.feature) <= limit


def near(track: Track, box: Box, params: TrackerParams) -> bool:
    """Could motion alone pair them: overlap with the predicted or last box, or within reach of its centre."""
    if overlap(track, box) >= params.iou_threshold:
        return True
    reach = params.max_distance * (1 + track.missed)
    return params.max_distance > 0 and similar_size(track.box, box) and min(
        centre_distance(track.predicted, box), centre_distance(track.box, box)) <= reach


def overlap(track: Track, box: Box) -> float:
    """IoU of ``box`` with the track's predicted or last box, whichever is larger."""
    return max(iou(track.predicted, box), iou(track.box, box))


def unambiguous(tracks: list[Track], left: list[int], observations: list[Observation], boxes: list[int],
                params: TrackerParams) -> set[tuple[int, int]]:
    """(track index, observation index) pairs, among the tracks ``left`` and observations ``boxes``, motion alone decides.

    The track has no other detection near it, and the detection no other track
    that was found in the previous frame (a track already missing does not
    compete: it may be the one that went behind something). Pairs already made
    by appearance are out of the question: DeepSORT's cascade, where a crossing's
    front face, matched by its looks, leaves the hidden one no rival. A pair that
    overlaps by at least :data:`DOMINANT` is not made ambiguous by a rival that is
    merely near (within reach of the centre, no overlap): two faces crossing are
    near each other for seconds, while each box still lies on its own track.
    """
    close = {(ti, i): overlap(tracks[ti], observations[i].box) for ti in left for i in boxes if near(tracks[ti], observations[i].box, params)}
    out = set()
    for (ti, i), own in close.items():
        bar = params.iou_threshold if own >= DOMINANT else -1.0  # rivals that count: overlapping ones, or any near one
        rivals_of_track = any(tj == ti and j != i and o >= bar for (tj, j), o in close.items())
        rivals_of_box = any(j == i and tj != ti and tracks[tj].missed == 0 and o >= bar for (tj, j), o in close.items())
        if not rivals_of_track and not rivals_of_box:
            out.add((ti, i))
    return out


def allowed(track: Track, obs: Observation, limit: float, alone: bool) -> tuple[bool, float]:
    """(allowed, cost): the appearance distance to the template, or ``limit`` for a pair motion alone allowed.

    Unknown appearance on either side is allowed at distance 0, except a box cut by
    the border away from the track (:func:`elsewhere`).
    """
    if limit > 0 and elsewhere(track, obs):
        return False, limit
    if limit <= 0 or track.feature is None or obs.feature is None:
        return True, 0.0
    d = appearance.distance(track.feature, obs.feature)
    if d <= limit:
        return True, d
    if not alone:
        return False, d
    if is_cut(obs.box, track) and _hidden_already(track, limit):
        return True, limit
    gradual = track.last is not None and appearance.distance(track.last, obs.feature) <= limit
    return gradual, limit


def elsewhere(track: Track, obs: Observation) -> bool:
    """True for a box with no descriptor because the frame border cuts it, at a border the track's box did not reach.

    The track's last box, or its predicted one, must reach one of the borders
    that cut ``obs``, or come within :data:`AT_EDGE` of its side of it: the face
    was already entering or leaving the picture there. A face leaving a
    640x360 clip came within 4 px (a 138 px box) before it was cut; the person
    who replaced another in issue 23's turnover clip sat 16-22 px (83-89 px
    boxes) from the border their larger box reached.
    """
    if obs.feature is not None or obs.frame is None or not cut_by_border(obs.box, *obs.frame):
        return False
    width, height = obs.frame
    near = {side for box in (track.box, track.predicted) for side in edges(box, width, height, max(2, round(AT_EDGE * size(box))))}
    return not edges(obs.box, width, height) & near


def motion_pairs(tracks: list[Track], left: list[int], observations: list[Observation], boxes: list[int],
                 params: TrackerParams) -> list[tuple[float, int, int]]:
    """(cost, track index, observation index), best first: the unambiguous pairs :func:`allowed` lets through."""
    if params.appearance_distance <= 0:
        return []
    pairs = []
    for ti, i in unambiguous(tracks, left, observations, boxes, params):
        alike, cost = allowed(tracks[ti], observations[i], params.appearance_distance, alone=True)
        if alike:
            pairs.append((cost, ti, i))
    return sorted(pairs)
