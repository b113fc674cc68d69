"""MediaPipe's weighted non-maximum suppression, for BlazeFace's overlapping anchor hits.

A face lights up several neighbouring anchors. Plain NMS would keep the best
one and its jitter; MediaPipe's ``WEIGHTED`` algorithm instead takes the best
remaining detection, gathers every remaining one whose IoU with it exceeds the
threshold (itself included), and replaces the group by the score-weighted mean
of their boxes and keypoints, keeping the best score. The IoU is measured
against the best detection's own box, not the averaged one, as the calculator
does. The same routine merges the passes of a multi-pass detector (short plus
full range, tiles): a face seen twice becomes one averaged detection.
"""

from __future__ import annotations

import numpy as np

from emostream.detector.decode import Decoded


def iou_one_to_many(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one (4,) x0, y0, x1, y1 box with each of (N, 4) boxes; 0 where the union is empty."""
    ix0 = np.maximum(box[0], boxes[:, 0])
    iy0 = np.maximum(box[1], boxes[:, 1])
    ix1 = np.minimum(box[2], boxes[:, 2])
    iy1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area + areas - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def weighted_nms(found: Decoded, threshold: float = 0.3, max_faces: int = 0) -> Decoded:
    """One averaged detection per group of boxes overlapping the best remaining one by IoU > ``threshold``.

    Output is ordered by score, best first. ``max_faces`` > 0 stops after that many.
    """
    if len(found) == 0:
        return found
    order = np.argsort(-found.scores, kind="stable")
    boxes, keypoints, scores = found.boxes[order], found.keypoints[order], found.scores[order]
    remaining = np.arange(len(scores))
    out_boxes: list[np.ndarray] = []
    out_keypoints: list[np.ndarray] = []
    out_scores: list[float] = []
    while remaining.size and (max_faces <= 0 or len(out_scores) < max_faces):
        best = remaining[0]
        group_mask = iou_one_to_many(boxes[best], boxes[remaining]) > threshold
        group_mask[0] = True  # the best box always belongs to its own group, even a degenerate one
        group = remaining[group_mask]
        total = scores[group].sum()
        weights = scores[group] / total if total > 0 else np.full(group.size, 1.0 / group.size, np.float32)
        out_boxes.append(weights @ boxes[group])
        out_keypoints.append(np.tensordot(weights, keypoints[group], axes=1))
        out_scores.append(float(scores[best]))
        remaining = remaining[~group_mask]
    return Decoded(
        np.asarray(out_boxes, np.float32).reshape(-1, 4),
        np.asarray(out_keypoints, np.float32).reshape(-1, keypoints.shape[1], 2),
        np.asarray(out_scores, np.float32),
    )
