"""BlazeFace served straight through LiteRT: the same models and post-processing as MediaPipe Tasks, less its graph.

MediaPipe Tasks costs about twice the model (2.2 ms against 1.15 ms per
640x480 frame for short range, docs/BENCHMARKS.md): its graph converts the
image, runs the calculators and builds protobufs per call. Here each pass
warps the frame once into the model's input (:mod:`views`), the interpreter
runs, and :mod:`decode` and :mod:`nms` do what MediaPipe's calculators do, so
boxes and keypoints agree with the reference (tests/detector).

``range`` picks the passes. ``short`` and ``full`` are one model on the
letterboxed frame, as MediaPipe runs them. ``auto`` covers both: short range
on the whole frame for faces near the camera, full range on the whole frame
(or on tiles of ``tile_px`` when the frame is larger) for distant ones; the
passes are merged by the same weighted NMS, so a face both see is one box.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from emostream.detector.anchors import FULL_RANGE, SHORT_RANGE, AnchorSpec, anchor_centres, block_sizes
from emostream.detector.base import Detection, Detector, clip_box
from emostream.detector.decode import Decoded, decode
from emostream.detector.nms import weighted_nms
from emostream.detector.views import View, letterbox, tiles

MODEL_FILES = {"short": "face_detection_short_range.tflite", "full": "face_detection_full_range_sparse.tflite"}
SPECS = {"short": SHORT_RANGE, "full": FULL_RANGE}
NMS_IOU = 0.3  # MediaPipe Tasks' FaceDetectorOptions.min_suppression_threshold default
BUCKETS = (1, 2, 4, 8)  # batch shapes allocated; a batch is padded up to the next, so at most four interpreters per model


def model_path(kind: str) -> Path:
    return Path(str(resources.files("emostream") / "assets" / "models" / "detector" / MODEL_FILES[kind]))


class BlazeFaceModel:
    """One BlazeFace model on LiteRT: uint8 views in, decoded and suppressed detections per view out.

    The input's batch dimension is resizable (the graph reshapes it away), so a
    batch of views is one ``invoke``. Each interpreter's arena holds one input
    and the activations per view, so batches are padded to a few sizes
    (:data:`BUCKETS`, as the classifier's runtime does) and one interpreter is
    kept per size: memory stays bounded and no call reallocates.
    """

    def __init__(self, kind: str, threads: int = 1) -> None:
        from ai_edge_litert.interpreter import Interpreter

        path = model_path(kind)
        if not path.is_file():
            raise FileNotFoundError(f"BlazeFace model {path} is missing from the package")
        self.kind = kind
        self.spec: AnchorSpec = SPECS[kind]
        self.size = self.spec.input_size
        self.anchors = anchor_centres(self.spec)
        self.blocks = block_sizes(self.spec)
        self._make: Callable[[], Any] = functools.partial(Interpreter, model_path=str(path), num_threads=threads)
        self._interpreters: dict[int, tuple[Any, int, int, int]] = {}

    def _interpreter(self, batch: int) -> tuple[Any, int, int, int]:
        if batch not in self._interpreters:
            it = self._make()
            inp = it.get_input_details()[0]
            if batch != 1:
                it.resize_tensor_input(inp["index"], [batch, self.size, self.size, 3])
            it.allocate_tensors()
            outs = sorted(it.get_output_details(), key=lambda d: -int(d["shape"][-1]))  # regressors (16) before scores (1)
            if int(outs[0]["shape"][1]) != batch * len(self.anchors):
                raise ValueError(f"{self.kind} model gives {outs[0]['shape']} for a batch of {batch}, not {len(self.anchors)} anchors each")
            self._interpreters[batch] = (it, inp["index"], outs[0]["index"], outs[1]["index"])
        return self._interpreters[batch]

    def run(self, pixels: np.ndarray, min_score: float) -> list[Decoded]:
        """(B, size, size, 3) uint8 RGB views, B <= 8, to B suppressed detection sets in 0..1 view coordinates."""
        batch = next(size for size in BUCKETS if size >= len(pixels))
        it, inp, reg_index, score_index = self._interpreter(batch)
        tensor = it.tensor(inp)()  # the interpreter's own input buffer, filled in place (no float copy made and then copied in)
        views = tensor[: len(pixels)]
        np.multiply(pixels, np.float32(1 / 127.5), out=views)  # MediaPipe's -1..1 range
        views -= np.float32(1.0)
        tensor[len(pixels) :] = -1.0  # padding views are black
        del tensor, views  # LiteRT refuses to invoke while a view of its buffers is alive
        it.invoke()
        regressors = per_frame(it.get_tensor(reg_index), batch, self.blocks)
        logits = per_frame(it.get_tensor(score_index), batch, self.blocks)[:, :, 0]
        return [weighted_nms(decode(regressors[i], logits[i], self.anchors, self.size, min_score), NMS_IOU) for i in range(len(pixels))]


@dataclass(frozen=True)
class Pass:
    model: str  # "short" or "full"
    tiled: bool  # full range on tiles of tile_px in large frames, else one letterboxed view


PASSES = {"short": (Pass("short", False),), "full": (Pass("full", False),), "auto": (Pass("short", False), Pass("full", True))}


class LiteRTBlazeFace(Detector):
    name = "blazeface"
    colour = "rgb"

    def __init__(self, range_: str = "auto", min_score: float = 0.5, tile_px: int = 720, threads: int = 1, batch: bool = True) -> None:
        if range_ not in PASSES:
            raise ValueError(f"unknown BlazeFace range {range_!r}; expected one of {sorted(PASSES)}")
        self.passes = PASSES[range_]
        self.min_score = min_score
        self.tile_px = tile_px
        self.batch = batch
        self.models = {p.model: BlazeFaceModel(p.model, threads) for p in self.passes}

    def views(self, width: int, height: int, step: Pass) -> list[View]:
        return tiles(width, height, self.tile_px) if step.tiled else [letterbox(width, height)]

    def detect_native(self, image_rgb: np.ndarray) -> list[Detection]:
        return self.detect_many([image_rgb])[0]

    def detect_many(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        """Faces in each RGB frame; every pass runs all frames' views as one batch (``batch``) or one by one."""
        found: list[list[Decoded]] = [[] for _ in images]
        for step in self.passes:
            model = self.models[step.model]
            jobs = [(i, view) for i, image in enumerate(images) for view in self.views(image.shape[1], image.shape[0], step)]
            start = 0
            for size in batch_sizes(len(jobs)) if self.batch else [1] * len(jobs):
                part = jobs[start : start + size]
                start += size
                pixels = np.empty((len(part), model.size, model.size, 3), np.uint8)
                for slot, (i, view) in enumerate(part):
                    view.sample(images[i], model.size, pixels[slot])
                for (i, view), dets in zip(part, model.run(pixels, self.min_score), strict=True):
                    found[i].append(to_frame(dets, view))
        return [self._faces(parts, image.shape[1], image.shape[0]) for parts, image in zip(found, images, strict=True)]

    def _faces(self, parts: list[Decoded], width: int, height: int) -> list[Detection]:
        merged = parts[0] if len(parts) == 1 else weighted_nms(Decoded.concat(parts), NMS_IOU)
        out = []
        for (x0, y0, x1, y1), points, score in zip(merged.boxes.tolist(), merged.keypoints.tolist(), merged.scores.tolist(), strict=True):
            # Truncated corner and size, as MediaPipe's DetectionTransformationCalculator makes pixel boxes
            box = clip_box(int(x0), int(y0), int(x1 - x0), int(y1 - y0), width, height)
            if box is not None:
                keypoints = tuple((float(x), float(y)) for x, y in points)
                out.append(Detection(*box, score=min(max(float(score), 0.0), 1.0), keypoints=keypoints))
        return out


def batch_sizes(views: int) -> list[int]:
    """Batches that cover ``views`` with no padding view: the largest bucket that fits, again (6 tiles: 4 + 2, not 8).

    A padding view costs as much as a real one (the model's time per view is the
    same at every batch size, docs/decisions.md), so a frame's six full-range
    tiles at 1920x1080 padded to eight paid for two views nobody looks at.
    """
    sizes = []
    while views > 0:
        size = max(b for b in BUCKETS if b <= views)
        sizes.append(size)
        views -= size
    return sizes


def per_frame(output: np.ndarray, batch: int, blocks: list[int]) -> np.ndarray:
    """A batched (1, B x anchors, values) output as (B, anchors, values): each grid's block holds the frames one after another."""
    if batch == 1:  # one frame's rows are its grids one after another already
        return output.reshape(1, -1, output.shape[-1])
    rows = output.reshape(-1, output.shape[-1])
    parts, start = [], 0
    for size in blocks:
        parts.append(rows[start : start + batch * size].reshape(batch, size, -1))
        start += batch * size
    return np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]


def to_frame(found: Decoded, view: View) -> Decoded:
    """Detections in 0..1 view coordinates to frame pixels, without those a tile sees cut by its inner edge."""
    if len(found) == 0:
        return found
    boxes = view.to_frame(found.boxes.astype(np.float64))
    keypoints = view.to_frame(found.keypoints.astype(np.float64))
    keep = view.sees_whole(boxes)
    return Decoded(boxes[keep], keypoints[keep], found.scores[keep])
