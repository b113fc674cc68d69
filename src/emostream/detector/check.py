"""A second look at a face candidate before its track is published: is it a face, or a texture that looks like one?

BlazeFace fires on clouds, noise, galaxies and titles at scores up to ~0.8,
frame after frame, so neither a score threshold nor a count of consecutive
hits tells those from faces (docs/decisions.md, issue 23). Three looks do,
each taken only when the one before passed (so most false boxes cost no
inference), measured on the scene benchmark's ``tune`` split:

- **the keypoints' layout**: a face's eyes, nose tip and mouth fit the mean
  face's (:data:`~emostream.detector.upright.TEMPLATE`) to ~0.02 face sides
  (95 % within 0.04) after the best shift, scale and turn; a false box's lie
  wherever the texture put them (median 0.07);
- **a close-up for the short-range model**: the candidate cut out upright
  (turned by its keypoints, :mod:`~emostream.detector.upright`) at twice its
  box, so it fills the middle of the model's 128 px input as a face at selfie
  distance does, and the same mirrored. A face stays a face at that scale and
  in a mirror (median score ~0.85); most textures that fooled the first pass,
  which saw them at a scale where a face is a few pixels, do not;
- **a wide view for the full-range model**, only where the close-up was not
  sure (0.7 to 0.8): six box sides around the candidate (at most the frame's
  longer side), upright and mirrored, where a face is ~32 px among what
  surrounds it. It stops the bright round blobs (galaxies, lamps) that pass
  the close-up.

A candidate its detector vouches for (YuNet 0.75 and over) needs less: a
close-up of 0.5 and a layout within 0.10 face sides; one it is sure of
(0.8 and over) whose close-up is blurred to 0.4-0.5 passes where the wide view
scores 0.35. No faceless candidate of the scene benchmark is that sure with
such looks; FER faces under blur and compression, or with an odd crop, are.

Each view is scored by the best face the model finds near where the
candidate's box lands, of about its size. The check costs nothing for a box
whose layout fails, two short-range inferences (~3 ms on one core) for most
others, and two more full-range ones (~10 ms) where the close-up was not
sure; it runs once per track candidate (``ingest/tracking/confirm.py``),
never per frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from emostream.detector.base import Detection, Keypoints
from emostream.detector.decode import Decoded
from emostream.detector.litert import BlazeFaceModel
from emostream.detector.upright import TEMPLATE, view_matrix

CLOSE = 2.0  # close-up side in box sides: the face fills the middle half of the short-range model's input
WIDE = 6.0  # wide view side in box sides: the face ~32 px of the full-range model's 192, among what surrounds it
VOUCHED_CLOSE = 0.5  # the close-up's bar for a candidate its detector vouches for (FaceCheck.vouched)
VOUCHED_MISFIT = 0.10  # ... and how far its layout may lie from the mean face's (the bar for others: FaceCheck.max_misfit)
#: A candidate its detector is sure of (this score, and vouched), whose close-up is blurred below VOUCHED_CLOSE: it passes
#: on a close-up of SURE_CLOSE when the wide view scores SURE_WIDE (docs/decisions.md, "The check trusts a sure detector more").
SURE, SURE_CLOSE, SURE_WIDE = 0.8, 0.4, 0.35
CENTRED = 0.25  # how far (in box sides) the second look's face may lie from the candidate's centre
_T = np.asarray(TEMPLATE, np.float64)
_TC = _T - _T.mean(axis=0)
_TN = float((_TC**2).sum())


@dataclass(frozen=True)
class Look:
    """What the check saw (each score the mean over the view and its mirror image; 0: no face there or not looked)."""

    misfit: float  # the candidate's keypoints against the mean face's layout, face sides
    close: float = 0.0  # the short-range model on the upright close-up
    wide: float = 0.0  # the full-range model on the upright wide view


def misfit(keypoints: Keypoints) -> float:
    """How far the eyes, nose tip and mouth lie from the mean face's layout, in face sides (RMS, after the best similarity fit).

    The fit takes away position, size and roll, so only the shape is left: 0
    for the template itself, ~0.02 for faces BlazeFace finds, ~0.07 for its
    typical false box.
    """
    points = np.asarray(keypoints[: len(TEMPLATE)], np.float64)
    centred = points - points.mean(axis=0)
    a = float((_TC * centred).sum()) / _TN
    b = float((_TC[:, 0] * centred[:, 1] - _TC[:, 1] * centred[:, 0]).sum()) / _TN
    scale = math.hypot(a, b)
    if scale <= 1e-9:
        return math.inf
    fitted = _TC @ np.array([[a, b], [-b, a]])
    return float(np.sqrt(((fitted - centred) ** 2).sum(axis=1).mean())) / scale


class FaceCheck:
    """The second look: ``passes`` when the misfit is at most ``max_misfit`` and the close-up scores ``min_close``,
    and either the close-up scores ``close_alone`` or the wide view ``min_wide``; for a candidate its detector scores
    ``vouched`` or more, when the misfit is at most :data:`VOUCHED_MISFIT` and the close-up scores
    :data:`VOUCHED_CLOSE` (or, scored :data:`SURE`, :data:`SURE_CLOSE` with a wide view of :data:`SURE_WIDE`).

    Each step runs only when the one before left the answer open: most false
    boxes fail the misfit, which costs no inference, and most faces pass on
    the close-up alone (on ``tune``, no faceless box's close-up scored above
    0.72; 88 % of the faces' scored 0.8 or more). Takes frames in RGB
    (BlazeFace's colour) or BGR (``colour``); owns its interpreters, so build
    one per thread, as a detector.
    """

    def __init__(
        self, max_misfit: float = 0.08, min_close: float = 0.7, close_alone: float = 0.8, min_wide: float = 0.3, threads: int = 1,
        mirror: bool = True, vouched: float = 1.01, low_close: float = 1.01,
    ) -> None:
        self.max_misfit, self.min_close, self.close_alone, self.min_wide = max_misfit, min_close, close_alone, min_wide
        self.low_close = low_close  # a candidate under the detector's threshold needs this close-up and the wide view (passes_low)
        self.mirror = mirror  # False: each view alone, without its mirror image (half the inferences)
        self.vouched = vouched  # a candidate the detector scores this high passes on a close-up of VOUCHED_CLOSE
        self.short, self.full = BlazeFaceModel("short", threads), BlazeFaceModel("full", threads)

    def look(
        self, image: np.ndarray, detection: Detection, colour: str = "rgb", everything: bool = False, vouched: bool = False,
        low: bool = False,
    ) -> Look:
        """What the check sees, step by step until the answer is known (``everything``: every step, for studies;
        ``vouched``: a close-up of :data:`VOUCHED_CLOSE` is enough; ``low``: a candidate under its detector's
        threshold, whose close-up must reach ``low_close`` and never settles it alone)."""
        shape = 0.0 if detection.keypoints is None else misfit(detection.keypoints)
        if shape > self._misfit_limit(vouched) and not everything:
            return Look(shape)
        close = self.view_score(self.short, image, detection, CLOSE, colour)
        floor, alone = (self.low_close, math.inf) if low else (self.min_close, self.close_alone)
        sure = vouched and _sure(detection, close)  # its wide view may still decide
        decided = (close < floor and not sure) or close >= alone or (vouched and close >= VOUCHED_CLOSE)
        if decided and not everything:
            return Look(shape, close)
        # A face that fills much of the frame has no surroundings to show: the wide view stops at the frame's longer side.
        wide = min(WIDE, max(CLOSE, max(image.shape[:2]) / max(detection.w, detection.h)))
        return Look(shape, close, self.view_score(self.full, image, detection, wide, colour))

    def passes(self, image: np.ndarray, detection: Detection, colour: str = "rgb") -> bool:
        vouched = detection.score >= self.vouched
        seen = self.look(image, detection, colour, vouched=vouched)
        if seen.misfit > self._misfit_limit(vouched):
            return False
        if vouched and (seen.close >= VOUCHED_CLOSE or (_sure(detection, seen.close) and seen.wide >= SURE_WIDE)):
            return True
        return seen.close >= self.min_close and (seen.close >= self.close_alone or seen.wide >= self.min_wide)

    def _misfit_limit(self, vouched: bool) -> float:
        return max(self.max_misfit, VOUCHED_MISFIT) if vouched else self.max_misfit

    def passes_low(self, image: np.ndarray, detection: Detection, colour: str = "rgb") -> bool:
        """A candidate its detector scored under its own threshold (``tracker.low_score`` up to ``min_score``): a face's
        layout, a close-up of ``low_close`` and the wide view's ``min_wide`` too, without shortcut or vouching.

        The detector's doubt is made up by both other looks agreeing: a face rolled 30°, in a hand or in the dark, which
        YuNet scores 0.3-0.6. On the scene benchmark's ``tune`` split no faceless candidate with a face's layout reached a
        close-up of 0.65 or a wide view of 0.32 (docs/decisions.md).
        """
        seen = self.look(image, detection, colour, low=True)
        return seen.misfit <= self.max_misfit and seen.close >= self.low_close and seen.wide >= self.min_wide

    def view_score(self, model: BlazeFaceModel, image: np.ndarray, detection: Detection, scale: float, colour: str) -> float:
        """Mean over the upright view of ``scale`` box sides and its mirror image of the best face near its centre."""
        size = model.size
        matrix = view_matrix(detection.box, detection.keypoints, size, scale)
        views = np.empty((2 if self.mirror else 1, size, size, 3), np.uint8)
        cv2.warpAffine(image, matrix, (size, size), dst=views[0], flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        if colour == "bgr":
            views[0] = views[0][:, :, ::-1]
        x, y, w, h = detection.box
        cx, cy = (matrix @ np.array([x + w / 2, y + h / 2, 1.0])) / size  # where the candidate's box centre lands, 0..1
        if not self.mirror:
            return _centred_score(model.run(views, 0.05)[0], cx, cy, scale)
        views[1] = views[0][:, ::-1]
        mirrored, direct = model.run(views, 0.05)[::-1]
        return (_centred_score(direct, cx, cy, scale) + _centred_score(mirrored, 1.0 - cx, cy, scale)) / 2


def _sure(detection: Detection, close: float) -> bool:
    """A vouched candidate its detector is sure of, whose blurred close-up the wide view may still make up for."""
    return detection.score >= SURE and close >= SURE_CLOSE


def _centred_score(found: Decoded, cx: float, cy: float, scale: float) -> float:
    """The best score of a face centred within :data:`CENTRED` box sides of (cx, cy), about the candidate's size (0..1 view units)."""
    best, reach = 0.0, CENTRED / scale
    for (x0, y0, x1, y1), score in zip(found.boxes.tolist(), found.scores.tolist(), strict=True):
        near = abs((x0 + x1) / 2 - cx) <= reach and abs((y0 + y1) / 2 - cy) <= reach
        if near and 0.5 / scale <= x1 - x0 <= 2.0 / scale:
            best = max(best, float(score))
    return best
