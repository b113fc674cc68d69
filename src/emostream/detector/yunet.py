"""YuNet (Wu, Peng, Yu, 2023) served through ONNX Runtime: one pass that finds faces from ~10 px to the frame's size.

BlazeFace's two models each cover a band of sizes (short range: selfie
distance; full range at 192 px: faces of a few percent of the frame), so small
and distant faces need tiles and a second model, and still half of the scene
benchmark's 24-64 px faces were missed (docs/BENCHMARKS.md, issue 23). YuNet
is a fully convolutional detector trained on WIDER FACE that runs on the frame
at its own resolution (padded to a multiple of 32) with heads at strides 8, 16
and 32: one inference per frame, faces down to about 10 px, and five
landmarks. Weights: ``yunet_n`` from libfacedetection.train (Apache-2.0,
NOTICE), 0.32 MB.

Decoding follows the model's heads: per cell of each stride, the score is the
geometric mean of the class and objectness outputs; the box centre is the
cell plus an offset, its size ``exp`` of the output, both in strides; the
landmarks are offsets from the cell. Overlapping hits are merged by the same
weighted NMS as BlazeFace's (:mod:`nms`).

What the rest of the pipeline reads is kept as BlazeFace gives it, so crops,
the face check, tracking and the upright turn need no second calibration:
boxes are mapped to BlazeFace's framing (:data:`TO_BLAZEFACE`, measured on
faces both detect), and the keypoints are BlazeFace's own, from its
short-range model on an upright close-up of each face (:mod:`landmarks`:
YuNet's landmarks under-read a head's roll). Where that close-up finds no
face, YuNet's stand in as BlazeFace's first four (right eye, left eye, nose
tip, mouth centre: the mean of YuNet's mouth corners).
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import cv2
import numpy as np

from emostream.detector.base import Detection, Detector, clip_box
from emostream.detector.decode import Decoded
from emostream.detector.landmarks import Landmarks
from emostream.detector.nms import weighted_nms

MODEL_FILE = "yunet_n_dynamic.onnx"
STRIDES = (8, 16, 32)
NMS_IOU = 0.3
#: BlazeFace's box from YuNet's, in YuNet box sides: centre shift (x, y) and side scale (w, h).
TO_BLAZEFACE: tuple[float, float, float, float] = (0.0, 0.056, 1.14, 0.90)


def model_path() -> Path:
    return Path(str(resources.files("emostream") / "assets" / "models" / "detector" / MODEL_FILE))


class YuNetDetector(Detector):
    """YuNet on each frame, scaled so its longer side is at most ``max_side`` (0: as it comes)."""

    name = "yunet"
    colour = "bgr"

    def __init__(self, min_score: float = 0.6, max_side: int = 0, threads: int = 1, landmarks: bool = True) -> None:
        # ONNX Runtime's Linux wheels carry Microsoft's 1DS telemetry, on unless this is set before the import (it also
        # leaves a .ses file in TMPDIR): nothing of a camera's analysis leaves the machine (docs/privacy.md).
        os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
        import onnxruntime as ort

        path = model_path()
        if not path.is_file():
            raise FileNotFoundError(f"YuNet model {path} is missing from the package")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name
        self.outputs = [f"{kind}_{s}" for kind in ("cls", "obj", "bbox", "kps") for s in STRIDES]
        self.min_score = min_score
        self.max_side = max_side
        self._grids: dict[tuple[int, int], list[np.ndarray]] = {}
        self._inputs: dict[tuple[int, int], np.ndarray] = {}
        self.landmarks = Landmarks(threads) if landmarks else None  # BlazeFace's keypoints in place of YuNet's

    def detect_native(self, image_bgr: np.ndarray) -> list[Detection]:
        height, width = image_bgr.shape[:2]
        scale, seen = 1.0, image_bgr
        if self.max_side and max(width, height) > self.max_side:
            scale = self.max_side / max(width, height)
            seen = cv2.resize(image_bgr, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
        faces = to_detections(self.run(seen), 1.0 / scale, width, height)
        if self.landmarks is not None and faces:
            faces = self.landmarks.refine(image_bgr, faces, "bgr")
        return faces

    def run(self, image_bgr: np.ndarray) -> Decoded:
        """Suppressed detections in the image's pixels."""
        h, w = image_bgr.shape[:2]
        ph, pw = -(-h // 32) * 32, -(-w // 32) * 32
        tensor = self._inputs.get((ph, pw))
        if tensor is None:  # one buffer per padded size, its padding zero for good: no 3.7 MB allocation per 640x480 frame
            tensor = self._inputs[(ph, pw)] = np.zeros((1, 3, ph, pw), np.float32)
        tensor[0, :, :h, :w] = image_bgr.transpose(2, 0, 1)
        heads = dict(zip(self.outputs, self.session.run(self.outputs, {self.input: tensor}), strict=True))
        parts = []
        for stride, grid in zip(STRIDES, self._grid(pw, ph), strict=True):
            cls = np.clip(heads[f"cls_{stride}"][0, :, 0], 0, 1)
            obj = np.clip(heads[f"obj_{stride}"][0, :, 0], 0, 1)
            score = np.sqrt(cls * obj)
            keep = np.flatnonzero(score >= self.min_score)
            if keep.size == 0:
                continue
            cells, box, kps = grid[keep], heads[f"bbox_{stride}"][0, keep], heads[f"kps_{stride}"][0, keep]
            centre = (cells + box[:, :2]) * stride
            size = np.exp(box[:, 2:4]) * stride
            points = (cells[:, None, :] + kps.reshape(-1, 5, 2)) * stride
            parts.append(Decoded(np.concatenate([centre - size / 2, centre + size / 2], axis=1).astype(np.float32),
                                 points.astype(np.float32), score[keep].astype(np.float32)))
        if not parts:
            return Decoded(np.zeros((0, 4), np.float32), np.zeros((0, 5, 2), np.float32), np.zeros(0, np.float32))
        return weighted_nms(Decoded.concat(parts), NMS_IOU)

    def _grid(self, pw: int, ph: int) -> list[np.ndarray]:
        """Each stride's cells as (column, row) in the heads' order (row by row)."""
        if (pw, ph) not in self._grids:
            grids = []
            for stride in STRIDES:
                rows, cols = np.mgrid[0 : ph // stride, 0 : pw // stride]
                grids.append(np.stack([cols.ravel(), rows.ravel()], axis=1).astype(np.float32))
            self._grids[(pw, ph)] = grids
        return self._grids[(pw, ph)]


def to_detections(found: Decoded, scale: float, width: int, height: int) -> list[Detection]:
    """Frame-pixel detections in BlazeFace's framing, with BlazeFace's first four keypoints."""
    dx, dy, sw, sh = TO_BLAZEFACE
    out = []
    for (x0, y0, x1, y1), points, score in zip((found.boxes * scale).tolist(), (found.keypoints * scale).tolist(), found.scores.tolist(), strict=True):
        w, h = x1 - x0, y1 - y0
        cx, cy = (x0 + x1) / 2 + dx * w, (y0 + y1) / 2 + dy * h
        bw, bh = w * sw, h * sh
        box = clip_box(int(cx - bw / 2), int(cy - bh / 2), int(bw), int(bh), width, height)
        if box is None:
            continue
        right_eye, left_eye, nose, mouth_r, mouth_l = points
        mouth = ((mouth_r[0] + mouth_l[0]) / 2, (mouth_r[1] + mouth_l[1]) / 2)
        keypoints = (tuple(right_eye), tuple(left_eye), tuple(nose), mouth)
        out.append(Detection(*box, score=min(max(float(score), 0.0), 1.0), keypoints=keypoints))
    return out
