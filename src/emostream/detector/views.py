"""The square parts of a frame that a BlazeFace pass sees: the whole frame letterboxed, or tiles.

MediaPipe fits the whole frame into the square model input keeping its aspect
ratio: the frame is centred in a square of its longer side, the rest is black
(``keep_aspect_ratio`` with ``BORDER_ZERO``), and the square is scaled to the
input with bilinear sampling. A :class:`View` is that square in frame pixels,
so mapping a detection back is one multiply-add.

Tiles serve the full-range model on large frames: at 1280x720 one
letterboxed 192 px input shrinks a 32 px face to under 5 px, below what the
model finds; two 720 px squares keep it at 8.5 px, as in a whole 640x480
frame. Tiles overlap, and a box that crosses a tile's inner edge is left to
the neighbour that sees the face whole (:meth:`View.sees_whole`). Every seam
overlaps by at least :data:`SEAM` of the frame's longer side (1280x720: two
tiles, 160 px): the short-range pass on the whole frame finds faces from about
0.15 of it (19 px of its 128 px input), so only a face between the two that
covers a whole overlap is seen whole by no pass; a third tile to close that
narrow gap would cost a third more.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

SEAM = 0.125  # least overlap of neighbouring tiles, as a share of the frame's longer side
EDGE_SLACK = 0.02  # of the view's side: how far past an inner edge a box may reach and still count as whole


@dataclass(frozen=True)
class View:
    x0: float  # left edge of the square in frame pixels (negative when letterboxing a tall frame)
    y0: float
    side: float
    inner: tuple[bool, bool, bool, bool] = (False, False, False, False)  # left, top, right, bottom edges shared with a tile

    def affine(self, size: int) -> np.ndarray:
        """The 2x3 matrix that maps frame pixels to model-input pixels."""
        k = size / self.side
        return np.array([[k, 0.0, -self.x0 * k], [0.0, k, -self.y0 * k]], dtype=np.float64)

    def sample(self, image: np.ndarray, size: int, out: np.ndarray) -> None:
        """Write the view, scaled to ``size`` x ``size`` (black outside the frame), into ``out`` (uint8)."""
        cv2.warpAffine(
            image, self.affine(size), (size, size), dst=out, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
        )

    def to_frame(self, points: np.ndarray) -> np.ndarray:
        """0..1 view coordinates (..., 2 or 4 values as x, y pairs) to frame pixels."""
        out = points * self.side
        out[..., 0::2] += self.x0
        out[..., 1::2] += self.y0
        return out

    def sees_whole(self, boxes: np.ndarray) -> np.ndarray:
        """Which (N, 4) frame-pixel boxes stay inside the view's inner (tile-shared) edges."""
        slack = EDGE_SLACK * self.side
        keep = np.ones(len(boxes), dtype=bool)
        left, top, right, bottom = self.inner
        if left:
            keep &= boxes[:, 0] >= self.x0 - slack
        if top:
            keep &= boxes[:, 1] >= self.y0 - slack
        if right:
            keep &= boxes[:, 2] <= self.x0 + self.side + slack
        if bottom:
            keep &= boxes[:, 3] <= self.y0 + self.side + slack
        return keep


def letterbox(width: int, height: int) -> View:
    """The whole frame centred in a square of its longer side, as MediaPipe feeds it."""
    side = float(max(width, height))
    return View((width - side) / 2, (height - side) / 2, side)


def tiles(width: int, height: int, tile_px: int) -> list[View]:
    """Overlapping squares of ``tile_px`` covering the frame; the letterbox alone when the frame fits in one."""
    if max(width, height) <= tile_px:
        return [letterbox(width, height)]
    side = float(tile_px)
    overlap = min(SEAM * max(width, height), 0.5 * side)
    xs = _starts(width, side, overlap)
    ys = _starts(height, side, overlap)
    out = []
    for row, y0 in enumerate(ys):
        for col, x0 in enumerate(xs):
            inner = (col > 0, row > 0, col < len(xs) - 1, row < len(ys) - 1)
            out.append(View(x0, y0, side, inner))
    return out


def _starts(length: int, side: float, overlap: float) -> list[float]:
    """Evenly spread starts of squares of ``side`` along ``length``, neighbours overlapping by ``overlap`` or more."""
    if length <= side:
        return [(length - side) / 2]
    count = 2
    while (count * side - length) / (count - 1) < overlap:
        count += 1
    step = (length - side) / (count - 1)
    return [i * step for i in range(count)]
