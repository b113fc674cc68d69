"""The geometry of an upright crop: one similarity transform from frame pixels to the model's input.

The emotion model was trained on FER2013 crops: 48x48, roughly upright, from
the brows to the chin. BlazeFace's keypoints say how a face is turned in the
frame; its box says how big the face is. The study in
``benchmarks/scenes/framing.py`` put BlazeFace on FER faces pasted into scenes
(whose true square and roll are known) and found the box's side equals the FER
square's side within 9 % at any roll, with its centre 0.13 sides below the
square's, while the face's turn is best read from all four central keypoints
at once (eyes, nose, mouth) fitted to their mean FER positions, a level and
symmetric template: the eye line alone is noisier. So the turn comes from
the keypoints and the size and position from the box, and the crop
reproduces FER's framing with the eyes level.
"""

from __future__ import annotations

import math

import numpy as np

#: Mean positions of BlazeFace's right eye, left eye, nose tip and mouth on FER2013 faces, in face sides from the
#: face's centre (x right, y down): 300 FER Training faces and their mirror images pasted upright, so the mean is
#: symmetric and its eye line level (``python -m benchmarks.scenes.framing --pasted 300``), rounded.
TEMPLATE: tuple[tuple[float, float], ...] = ((-0.191, -0.109), (0.191, -0.109), (0.0, 0.084), (0.0, 0.282))
#: Where the FER face's centre lies from BlazeFace's box centre, in box sides, in the face's own upright frame:
#: measured in the scene benchmark's roll sweep (faces of 80-120 px in 640x480 frames, tune), where the box's side
#: was the FER square's within 9 % (``python -m benchmarks.scenes.framing roll_0 roll_30``); x set to 0 (symmetry).
BOX_TO_FACE: tuple[float, float] = (0.0, -0.131)
_TX = sum(x for x, _ in TEMPLATE) / len(TEMPLATE)
_TY = sum(y for _, y in TEMPLATE) / len(TEMPLATE)
_CENTRED = tuple((x - _TX, y - _TY) for x, y in TEMPLATE)


def turn(keypoints: tuple[tuple[float, float], ...]) -> float:
    """Radians the face is turned on screen (clockwise positive, as image y points down) against :data:`TEMPLATE`.

    The least-squares rotation carrying the template's four points onto the
    detected ones (both centred); scale and position do not affect it.
    """
    points = keypoints[: len(TEMPLATE)]
    mx = sum(x for x, _ in points) / len(points)
    my = sum(y for _, y in points) / len(points)
    cross = dot = 0.0
    for (tx, ty), (px, py) in zip(_CENTRED, points, strict=True):
        px, py = px - mx, py - my
        cross += tx * py - ty * px
        dot += tx * px + ty * py
    return math.atan2(cross, dot)


def kept(angle: float, keep_deg: float) -> float:
    """The part of a turn (radians) to undo when tilts up to ``keep_deg`` stay as they are.

    FER2013's own faces lean up to about 12° either way (the model learned
    them so), and keypoints on a small face wobble by a few degrees; so a
    small tilt is left alone and a larger one is brought back to the band's
    edge, not past it.
    """
    band = math.radians(keep_deg)
    return math.copysign(max(0.0, abs(angle) - band), angle)


def upright_matrix(
    box: tuple[int, int, int, int],
    keypoints: tuple[tuple[float, float], ...],
    width: int,
    height: int,
    scale: float = 1.0,
    keep_deg: float = 0.0,
) -> np.ndarray:
    """2x3 affine matrix taking frame pixels to a ``width`` x ``height`` crop in which the face stands upright.

    The crop's height spans ``scale`` box sides (its width the same pixel
    pitch), centred on the FER face's centre; tilts up to ``keep_deg`` are
    kept (:func:`kept`); for ``cv2.warpAffine``.
    """
    x, y, w, h = box
    side = max(w, h) * scale
    angle = kept(turn(keypoints), keep_deg)
    cos, sin = math.cos(angle), math.sin(angle)
    ox, oy = BOX_TO_FACE[0] * max(w, h), BOX_TO_FACE[1] * max(w, h)
    cx = x + w / 2.0 + cos * ox - sin * oy
    cy = y + h / 2.0 + sin * ox + cos * oy
    pitch = height / side  # crop pixels per frame pixel
    a, b = cos * pitch, sin * pitch  # rotate by -angle, then scale
    return np.array(
        [[a, b, width / 2.0 - a * cx - b * cy], [-b, a, height / 2.0 + b * cx - a * cy]], dtype=np.float64
    )


def view_matrix(box: tuple[int, int, int, int], keypoints: tuple[tuple[float, float], ...] | None, size: int, scale: float) -> np.ndarray:
    """Frame to a ``size`` px square view of ``scale`` box sides: upright by the keypoints where there are any, else the box's square."""
    if keypoints is not None:
        return upright_matrix(box, keypoints, size, size, scale=scale)
    x, y, w, h = box
    k = size / (max(w, h) * scale)
    return np.array([[k, 0.0, size / 2 - (x + w / 2) * k], [0.0, k, size / 2 - (y + h / 2) * k]])
