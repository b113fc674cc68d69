"""A cue to detect now: something changed in the frame away from the faces already followed (``detector.on_change``).

With ``detector.interval`` k, a face that appears on a frame between
detections waits up to k - 1 frames for the next one, and those frames of it
are never published: on the scene benchmark, where a new person takes each
place every second, that was 6 % of all face-frames at k = 3 (docs/decisions.md,
issue 23). A person's arrival changes pixels where no followed face is. So
each analysed frame is reduced to a thumbnail of :data:`CELL` px cells (one
channel, mean of each cell) and compared with the previous frame's; cells that
moved by more than :data:`LEVEL` grey levels, away from the followed faces
(each box grown by :data:`MARGIN` of its side, so a face that moves or talks
does not count), are counted, and :data:`MIN_CELLS` of them ask for a
detection on this frame; so does a followed face of which :data:`REPLACED` of
the cells changed at once (another person in the same place: the carried
track would fail there and the newcomer wait for the next detection). Sensor noise and compression average out in a cell;
a camera that pans or a light switched on asks for detections until the frame
is still again, which costs what ``interval: 1`` costs for those frames. Cost:
one area resize of the frame (~0.1 ms at 640x480).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

CELL = 8  # thumbnail cell side, frame pixels
LEVEL = 24  # grey levels a cell's mean must move by to count as changed
MIN_CELLS = 3  # changed cells away from followed faces that ask for a detection (a 32 px face covers 16)
MARGIN = 0.5  # followed face boxes grown by this share of their side on each edge
REPLACED = 0.5  # share of a followed face's own cells that changed at once: someone else may be there now


class ChangeWatch:
    """Compares each frame's thumbnail with the previous one's; one per source, called in frame order."""

    def __init__(self) -> None:
        self._previous: np.ndarray | None = None

    def changed(self, image: np.ndarray, followed: Sequence[tuple[int, int, int, int]]) -> bool:
        """True when enough cells away from the ``followed`` boxes (frame pixels) changed since the last call."""
        height, width = image.shape[:2]
        cols, rows = max(1, width // CELL), max(1, height // CELL)
        plane = image[: rows * CELL, : cols * CELL, 1]  # green: most of the luma, in RGB and BGR alike
        thumb = cv2.resize(plane, (cols, rows), interpolation=cv2.INTER_AREA).astype(np.int16)
        previous, self._previous = self._previous, thumb
        if previous is None or previous.shape != thumb.shape:
            return False
        moved = np.abs(thumb - previous) > LEVEL
        for x, y, w, h in followed:
            inside = moved[int(y // CELL) : int((y + h) // CELL) + 1, int(x // CELL) : int((x + w) // CELL) + 1]
            if inside.size and inside.mean() >= REPLACED:
                return True
            grow_x, grow_y = w * MARGIN, h * MARGIN
            c0, r0 = max(0, int((x - grow_x) // CELL)), max(0, int((y - grow_y) // CELL))
            c1, r1 = int((x + w + grow_x) // CELL) + 1, int((y + h + grow_y) // CELL) + 1
            moved[r0:r1, c0:c1] = False
        return int(moved.sum()) >= MIN_CELLS
