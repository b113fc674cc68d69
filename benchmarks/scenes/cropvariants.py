"""The crops the fidelity study compares: the pipeline's, the ground truth's, and the upright crop's geometry varied.

Each crop is a function of a decoded RGB frame and a :class:`Sample` (one
ground-truth face and its matched detection) giving a 48x48 gray crop, or None
where it cannot be made (a missed face). ``truth`` cuts the pasted FER square
with its true roll undone; ``crop`` is :func:`emostream.detector.crop.crop_detection`
with the default configuration; ``g:...`` specs (:func:`spec`) vary the upright
crop's scale, vertical offset, turn, interpolation, sharpening and contrast.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from emostream.detector.base import Detection
from emostream.detector.upright import BOX_TO_FACE, TEMPLATE, kept, turn


@dataclass(frozen=True)
class Sample:
    """One ground-truth face in one frame, and the detection matched to it (None: missed)."""

    clip: str
    frame: int
    face: dict[str, Any]
    detection: Detection | None
    history: tuple[Detection, ...] = ()  # the same person's matched detections in the frames before, oldest first



def truth_matrix(face: dict[str, Any], size: int = 48) -> np.ndarray:
    """Frame -> the pasted FER square with its roll undone (pixel centres mapped exactly)."""
    x0, y0, side, _ = face["box"]
    cx, cy = x0 - 0.5 + side / 2, y0 - 0.5 + side / 2
    matrix = cv2.getRotationMatrix2D((cx, cy), -face["roll"], size / side)
    matrix[:, 2] += np.array([size / 2 - 0.5 - cx, size / 2 - 0.5 - cy])
    return matrix


def gray_warp(rgb: np.ndarray, matrix: np.ndarray, flags: int = cv2.INTER_LINEAR, sharpen: float = 0.0, gray: str = "luma") -> np.ndarray:
    """The warp to 48x48 in gray; INTER_AREA stands for "warp to 96, then area-average to 48"; ``sharpen``: unsharp mask;
    ``gray``: luma (ITU-R 601, OpenCV's and the pipeline's), mean (of the channels) or green."""
    if flags == cv2.INTER_AREA:
        double = matrix * 2.0
        double[:, 2] += 0.5  # pixel centres at twice the pitch
        patch = cv2.warpAffine(rgb, double, (96, 96), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        patch = cv2.resize(patch, (48, 48), interpolation=cv2.INTER_AREA)
    else:
        patch = cv2.warpAffine(rgb, matrix, (48, 48), flags=flags, borderMode=cv2.BORDER_REPLICATE)
    if gray == "mean":
        out: np.ndarray = patch.mean(axis=2).round().astype(np.uint8)
    elif gray == "green":
        out = np.ascontiguousarray(patch[:, :, 1])
    else:
        out = cv2.cvtColor(patch, cv2.COLOR_RGB2GRAY)
    if sharpen:
        soft = cv2.GaussianBlur(out, (0, 0), 1.0).astype(np.float32)
        out = np.clip(out + sharpen * (out - soft), 0, 255).astype(np.uint8)
    return out


Crop = Callable[[np.ndarray, Sample], np.ndarray | None]


def _pipeline(**change: Any) -> Crop:
    from emostream.config import load_config
    from emostream.detector.crop import crop_detection
    from emostream.infra.modelcard import load_card

    config = load_config(None).detector.model_copy(update=change)
    card = load_card(None)

    def crop(rgb: np.ndarray, s: Sample) -> np.ndarray | None:
        return None if s.detection is None else crop_detection(rgb, s.detection, card, config, "rgb")[..., 0]

    return crop


def _side_from(measure: Callable[[Detection], float]) -> Crop:
    """The pipeline's crop with the box made a square of side ``measure(detection)`` about the same centre."""
    pipeline = _pipeline()

    def crop(rgb: np.ndarray, s: Sample) -> np.ndarray | None:
        d = s.detection
        if d is None:
            return None
        side = measure(d)
        square = Detection(round(d.x + (d.w - side) / 2), round(d.y + (d.h - side) / 2), round(side), round(side), d.score, d.keypoints)
        return pipeline(rgb, Sample(s.clip, s.frame, s.face, square, s.history))

    return crop


def frame_matrix(cx: float, cy: float, side: float, angle: float, size: int = 48) -> np.ndarray:
    """Frame -> a ``size`` crop of ``side`` px centred on (cx, cy) (pixel centres), turned back by ``angle`` (radians, clockwise +)."""
    matrix = cv2.getRotationMatrix2D((cx, cy), math.degrees(angle), size / side)
    matrix[:, 2] += np.array([size / 2 - 0.5 - cx, size / 2 - 0.5 - cy])
    return matrix


def true_geometry(s: Sample) -> tuple[float, float, float, float]:
    x0, y0, side, _ = s.face["box"]
    return x0 - 0.5 + side / 2, y0 - 0.5 + side / 2, side, math.radians(-s.face["roll"])


def box_geometry(s: Sample, scale: float = 1.0, dy: float = BOX_TO_FACE[1]) -> tuple[float, float, float, float]:
    """Centre, side and turn as the upright crop takes them: turn from the keypoints, the rest from the box."""
    d = s.detection
    assert d is not None and d.keypoints is not None
    angle, side = turn(d.keypoints), max(d.w, d.h)
    cx = d.x - 0.5 + d.w / 2 - math.sin(angle) * dy * side
    cy = d.y - 0.5 + d.h / 2 + math.cos(angle) * dy * side
    return cx, cy, side * scale, angle


def points_geometry(s: Sample, scale: float = 1.0) -> tuple[float, float, float, float]:
    """Centre, side and turn all from the keypoints: the similarity carrying the template onto them."""
    d = s.detection
    assert d is not None and d.keypoints is not None
    pts = np.asarray(d.keypoints[: len(TEMPLATE)], np.float64)
    tpl = np.asarray(TEMPLATE, np.float64)
    angle = turn(d.keypoints)
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    pc, tc = pts - pts.mean(0), tpl - tpl.mean(0)
    side = float(np.sum(pc * (tc @ rot.T)) / np.sum(tc * tc))
    cx, cy = pts.mean(0) - side * (rot @ tpl.mean(0))
    return float(cx) - 0.0, float(cy), side * scale, angle


def _geometric(fn: Callable[[Sample], tuple[float, float, float, float]], **how: Any) -> Crop:
    def crop(rgb: np.ndarray, s: Sample) -> np.ndarray | None:
        if s.detection is None or s.detection.keypoints is None:
            return None
        return gray_warp(rgb, frame_matrix(*fn(s)), **how)

    return crop


def _mixed(centre: Callable[[Sample], tuple[float, float, float, float]], angle_of: Callable[[Sample], tuple[float, float, float, float]]) -> Crop:
    def fn(s: Sample) -> tuple[float, float, float, float]:
        return (*centre(s)[:3], angle_of(s)[3])

    return _geometric(fn)


def spec(name: str) -> Crop:
    """The upright crop varied by a spec, ``g:`` then ``+``-joined settings.

    ``scale=1``, ``dy=-0.131`` (box sides), ``keep=0`` (degrees), ``turn=est|true|none``, ``centre=pts``,
    ``interp=linear|area|cubic``, ``sharpen=0``, ``gray=luma|mean|green``, ``smooth=K`` (detections), ``norm=M/SD``.
    """
    opts = dict(kv.split("=") for kv in name[2:].split("+") if kv)
    scale, dy, keep = float(opts.get("scale", 1.0)), float(opts.get("dy", BOX_TO_FACE[1])), float(opts.get("keep", 0.0))
    which = opts.get("turn", "est")
    flags = {"area": cv2.INTER_AREA, "cubic": cv2.INTER_CUBIC}.get(opts.get("interp", ""), cv2.INTER_LINEAR)
    sharpen, gray = float(opts.get("sharpen", 0.0)), opts.get("gray", "luma")

    window = int(opts.get("smooth", 1))

    def fn(s: Sample) -> tuple[float, float, float, float]:
        cx, cy, side, angle = box_geometry(s, scale, dy)
        if window > 1:  # the geometry averaged over this and the person's last window - 1 detections (a causal track)
            recent = [Sample(s.clip, s.frame, s.face, d) for d in s.history[-(window - 1) :]]
            cx, cy, side, angle = (float(v) for v in np.mean([box_geometry(r, scale, dy) for r in [*recent, s]], axis=0))
        if which == "true":
            angle = true_geometry(s)[3]
        elif which == "none":
            angle = 0.0
        return cx, cy, side, kept(angle, keep)

    crop = _geometric(fn, flags=flags, sharpen=sharpen, gray=gray)
    if opts.get("centre") == "pts":  # the centre from the keypoints' fit, the size from the box

        def fn(s: Sample) -> tuple[float, float, float, float]:
            cx, cy, _, angle = points_geometry(s)
            _, _, side, _ = box_geometry(s, scale, dy)
            return cx, cy, side, true_geometry(s)[3] if which == "true" else angle

        crop = _geometric(fn, flags=flags, sharpen=sharpen, gray=gray)
    if opts.get("norm"):
        target_mean, target_sd = (float(v) for v in opts["norm"].split("/"))
        inner = crop

        def crop(rgb: np.ndarray, s: Sample) -> np.ndarray | None:
            patch = inner(rgb, s)
            if patch is None:
                return None
            x = patch.astype(np.float32)
            out: np.ndarray = np.clip((x - x.mean()) / max(float(x.std()), 1.0) * target_sd + target_mean, 0, 255).astype(np.uint8)
            return out

    return crop


def _closer_look(model: Any, rgb: np.ndarray, d: Detection, scale: float = 2.0) -> Detection:
    """The face the short-range model finds on an upright close-up of ``d`` (``scale`` box sides, as the face
    check's close-up), in frame pixels; ``d`` itself where it finds none."""
    from emostream.detector.upright import upright_matrix

    assert d.keypoints is not None
    size = model.size
    matrix = upright_matrix(d.box, d.keypoints, size, size, scale=scale)
    view = cv2.warpAffine(rgb, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    found = model.run(view[None], 0.3)[0]
    if not len(found):
        return d
    k = int(np.argmin(np.abs((found.boxes[:, :2] + found.boxes[:, 2:]) / 2 - 0.5).sum(axis=1)))
    back = cv2.invertAffineTransform(matrix)
    points = np.c_[found.keypoints[k] * size, np.ones(len(found.keypoints[k]))] @ back.T
    (x0, y0), (x1, y1) = found.boxes[k, :2] * size, found.boxes[k, 2:] * size
    cx, cy = back @ np.array([(x0 + x1) / 2, (y0 + y1) / 2, 1.0])
    side = max(x1 - x0, y1 - y0) / float(np.hypot(*matrix[0, :2]))
    return Detection(round(cx - side / 2), round(cy - side / 2), round(side), round(side), float(found.scores[k]),
                     tuple((float(x), float(y)) for x, y in points))


def _refined(once: bool = False) -> Crop:
    """The upright crop of the closer look's face (:func:`_closer_look`) on every frame, or (``once``) the correction
    the closer look made to a person's first detection, carried to their later ones (what the face check's close-up,
    taken once per track, could give for nothing)."""
    from emostream.config import load_config
    from emostream.detector.crop import crop_detection
    from emostream.detector.litert import BlazeFaceModel
    from emostream.infra.modelcard import load_card

    model, card, config = BlazeFaceModel("short"), load_card(None), load_config(None).detector
    corrections: dict[tuple[str, int], tuple[float, float, float, float]] = {}

    def crop(rgb: np.ndarray, s: Sample) -> np.ndarray | None:
        d = s.detection
        if d is None or d.keypoints is None:
            return None
        if not once:
            return crop_detection(rgb, _closer_look(model, rgb, d), card, config, "rgb")[..., 0]
        key = (s.clip, s.face["row"])
        if key not in corrections:  # the person's first detection: look closer, keep the change in its own frame
            cx, cy, side, angle = box_geometry(s)
            rx, ry, rside, rangle = box_geometry(Sample(s.clip, s.frame, s.face, _closer_look(model, rgb, d)))
            c, si = math.cos(-angle), math.sin(-angle)
            corrections[key] = ((c * (rx - cx) - si * (ry - cy)) / side, (si * (rx - cx) + c * (ry - cy)) / side, rside / side, rangle - angle)
        ux, uy, ratio, turned = corrections[key]
        cx, cy, side, angle = box_geometry(s)
        c, si = math.cos(angle), math.sin(angle)
        return gray_warp(rgb, frame_matrix(cx + (c * ux - si * uy) * side, cy + (si * ux + c * uy) * side, side * ratio, angle + turned))

    return crop


def variants() -> dict[str, Crop]:
    """Name -> crop function (a detected face's crop, or any face's for ``truth``)."""
    return {
        "truth": lambda rgb, s: gray_warp(rgb, truth_matrix(s.face)),
        "crop": _pipeline(),
        "box15": _pipeline(upright=False),
        "keep8": _pipeline(upright_keep_deg=8.0),
        "box": _geometric(box_geometry),
        "box.9": _geometric(lambda s: box_geometry(s, 0.9)),
        "box1.1": _geometric(lambda s: box_geometry(s, 1.1)),
        "dy-.08": _geometric(lambda s: box_geometry(s, 1.0, -0.08)),
        "dy-.18": _geometric(lambda s: box_geometry(s, 1.0, -0.18)),
        "pts": _geometric(points_geometry),
        "box+roll": _mixed(box_geometry, true_geometry),
        "truth+turn": _mixed(true_geometry, box_geometry),
        "det0": _mixed(box_geometry, lambda s: (0, 0, 0, 0.0)),
        "hside": _side_from(lambda d: float(d.h)),
        "hside1.03": _side_from(lambda d: 1.03 * d.h),
        "refined": _refined(),
        "refined1": _refined(once=True),
    }
