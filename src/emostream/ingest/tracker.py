"""Stable ids for faces across analysed frames: IoU matching, a centre-distance fallback, a grace period.

One tracker per source and session. Matching is greedy, best pair first:

1. by overlap (IoU at least ``iou_threshold``): cheap and unambiguous while a
   face moves little between analysed frames;
2. the tracks and detections left over are matched by the distance between
   box centres, measured in box sizes (at most ``max_distance``), for boxes
   of similar size. At a low analysis rate a face that turns or walks moves
   more than its own width between two analysed frames, its boxes no longer
   overlap, and IoU alone would hand it a new id every frame.

A track that finds no detection survives ``max_missed`` analysed frames before
its id is retired; the distance it may have moved grows with each missed
frame. Ids are never reused within a session.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

Box = tuple[int, int, int, int]

# Boxes more different in size than this factor (either way) are not the same face.
MAX_SIZE_RATIO = 2.0


def iou(a: Box, b: Box) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def centre_distance(a: Box, b: Box) -> float:
    """Distance between the centres, in units of the larger box's mean side."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    scale = max((aw + ah) / 2.0, (bw + bh) / 2.0, 1.0)
    return math.hypot(ax + aw / 2.0 - bx - bw / 2.0, ay + ah / 2.0 - by - bh / 2.0) / scale


def similar_size(a: Box, b: Box) -> bool:
    size_a, size_b = math.sqrt(max(a[2] * a[3], 1)), math.sqrt(max(b[2] * b[3], 1))
    return max(size_a, size_b) / min(size_a, size_b) <= MAX_SIZE_RATIO


@dataclass
class Track:
    id: int
    box: Box
    missed: int = 0
    hits: int = 1


class IouTracker:
    def __init__(self, iou_threshold: float = 0.3, max_missed: int = 5, max_distance: float = 1.0) -> None:
        self.iou_threshold = iou_threshold
        self.max_missed = max_missed
        self.max_distance = max_distance
        self.tracks: list[Track] = []
        self._next_id = 1

    def state(self) -> dict[str, Any]:
        """Everything needed to continue tracking after a restart (see ingest/checkpoint.py)."""
        return {"next_id": self._next_id, "tracks": [[t.id, list(t.box), t.missed, t.hits] for t in self.tracks]}

    def restore(self, state: dict[str, Any]) -> None:
        self._next_id = int(state["next_id"])
        self.tracks = []
        for track_id, box, missed, hits in state["tracks"]:
            x, y, w, h = (int(v) for v in box)
            self.tracks.append(Track(int(track_id), (x, y, w, h), int(missed), int(hits)))

    def update(self, boxes: list[Box]) -> list[int]:
        """Track ids for ``boxes``, in their order; unmatched boxes start new tracks."""
        ids: list[int | None] = [None] * len(boxes)
        used: set[int] = set()
        by_overlap = sorted(
            ((iou(t.box, b), ti, bi) for ti, t in enumerate(self.tracks) for bi, b in enumerate(boxes)),
            reverse=True,
        )
        self._assign([(ti, bi) for score, ti, bi in by_overlap if score >= self.iou_threshold], boxes, ids, used)
        if self.max_distance > 0:
            by_distance = sorted(
                (centre_distance(t.box, b), ti, bi)
                for ti, t in enumerate(self.tracks)
                if ti not in used
                for bi, b in enumerate(boxes)
                if ids[bi] is None and similar_size(t.box, b)
            )
            allowed = [(ti, bi) for dist, ti, bi in by_distance if dist <= self.max_distance * (1 + self.tracks[ti].missed)]
            self._assign(allowed, boxes, ids, used)
        for ti, track in enumerate(self.tracks):
            if ti not in used:
                track.missed += 1
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed]
        for bi, box in enumerate(boxes):
            if ids[bi] is None:
                track = Track(self._next_id, box)
                self._next_id += 1
                self.tracks.append(track)
                ids[bi] = track.id
        return [i for i in ids if i is not None]

    def _assign(self, pairs: list[tuple[int, int]], boxes: list[Box], ids: list[int | None], used: set[int]) -> None:
        """Greedy: take pairs in order, skipping tracks and boxes already matched."""
        for ti, bi in pairs:
            if ti in used or ids[bi] is not None:
                continue
            track = self.tracks[ti]
            track.box, track.missed = boxes[bi], 0
            track.hits += 1
            used.add(ti)
            ids[bi] = track.id
