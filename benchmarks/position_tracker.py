"""The position-only tracker emostream shipped before issue #15, kept as the baseline of the tracking benchmark.

Greedy IoU matching, a centre-distance fallback and a grace period; no motion
model, no appearance. Not used by the service.
"""

from __future__ import annotations

from dataclasses import dataclass

from emostream.ingest.tracking.geometry import Box, centre_distance, iou, similar_size


@dataclass
class _Track:
    id: int
    box: Box
    missed: int = 0


class PositionTracker:
    def __init__(self, iou_threshold: float = 0.3, max_missed: int = 5, max_distance: float = 1.0) -> None:
        self.iou_threshold, self.max_missed, self.max_distance = iou_threshold, max_missed, max_distance
        self.tracks: list[_Track] = []
        self._next_id = 1

    def update(self, boxes: list[Box]) -> list[int]:
        ids: list[int | None] = [None] * len(boxes)
        used: set[int] = set()
        by_overlap = sorted(((iou(t.box, b), ti, bi) for ti, t in enumerate(self.tracks) for bi, b in enumerate(boxes)), reverse=True)
        self._assign([(ti, bi) for score, ti, bi in by_overlap if score >= self.iou_threshold], boxes, ids, used)
        if self.max_distance > 0:
            by_distance = sorted(
                (centre_distance(t.box, b), ti, bi)
                for ti, t in enumerate(self.tracks)
                if ti not in used
                for bi, b in enumerate(boxes)
                if ids[bi] is None and similar_size(t.box, b)
            )
            self._assign([(ti, bi) for d, ti, bi in by_distance if d <= self.max_distance * (1 + self.tracks[ti].missed)], boxes, ids, used)
        for ti, track in enumerate(self.tracks):
            if ti not in used:
                track.missed += 1
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed]
        for bi, box in enumerate(boxes):
            if ids[bi] is None:
                self.tracks.append(_Track(self._next_id, box))
                ids[bi] = self._next_id
                self._next_id += 1
        return [i for i in ids if i is not None]

    def _assign(self, pairs: list[tuple[int, int]], boxes: list[Box], ids: list[int | None], used: set[int]) -> None:
        for ti, bi in pairs:
            if ti in used or ids[bi] is not None:
                continue
            self.tracks[ti].box, self.tracks[ti].missed = boxes[bi], 0
            used.add(ti)
            ids[bi] = self.tracks[ti].id
