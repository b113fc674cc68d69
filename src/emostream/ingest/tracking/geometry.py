"""Box arithmetic shared by the tracker's motion and appearance parts. Boxes are ``(x, y, w, h)`` in pixels."""

from __future__ import annotations

import math

Box = tuple[int, int, int, int]

# Boxes more different in size than this factor (either way) are not the same face.
MAX_SIZE_RATIO = 2.0


def iou(a: Box, b: Box) -> float:
    """Intersection over union; 0 for disjoint or empty boxes."""
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


def edges(box: Box, width: int, height: int, margin: int = 2) -> frozenset[str]:
    """The frame borders the box reaches (within ``margin`` px): of ``left``, ``top``, ``right``, ``bottom``."""
    x, y, w, h = box
    reached = {"left": x <= margin, "top": y <= margin, "right": x + w >= width - margin, "bottom": y + h >= height - margin}
    return frozenset(side for side, at in reached.items() if at)


def touches_edge(box: Box, width: int, height: int, margin: int = 2) -> bool:
    """True when the box is cut by the frame border, so it shows only part of a face."""
    return bool(edges(box, width, height, margin))


def cut_by_border(box: Box, width: int, height: int, square: float = 0.95) -> bool:
    """True when the face runs out of the frame: the box touches the border and is no longer square.

    Detectors give faces square boxes (BlazeFace) or nearly so and clip them to
    the frame; one that touches the border but is still square shows the whole
    face (someone sitting at the edge of the picture), one cut to an oblong
    shows part of it.
    """
    return touches_edge(box, width, height) and min(box[2], box[3]) < square * max(box[2], box[3])
