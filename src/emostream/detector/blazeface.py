"""MediaPipe Tasks ``FaceDetector`` with the BlazeFace model shipped in the package.

MediaPipe runs the model through its own bundled LiteRT; it would also import
TensorFlow, only for documentation decorators and file helpers, whenever
TensorFlow is installed. The imports and the construction run with TensorFlow
blocked (:mod:`emostream.infra.imports`), so MediaPipe takes its own fallbacks and
the ingest process stays under a third of the memory (docs/deploy.md). This
backend is the reference for :mod:`emostream.detector.litert`, which serves the
same models without MediaPipe's graph; a test holds the two to the same boxes
and keypoints (tests/detector/test_litert_agreement.py).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np

from emostream.detector.base import Detection, Detector, clip_box
from emostream.infra.imports import blocked

MODEL_FILES = {
    "short": "face_detection_short_range.tflite",
    "full": "face_detection_full_range_sparse.tflite",
}


def model_path(kind: str) -> Path:
    return Path(str(resources.files("emostream") / "assets" / "models" / "detector" / MODEL_FILES[kind]))


class BlazeFaceDetector(Detector):
    name = "mediapipe"
    colour = "rgb"  # MediaPipe's SRGB image format

    def __init__(self, kind: str = "short", min_score: float = 0.5) -> None:

        path = model_path(kind)
        if not path.is_file():
            raise FileNotFoundError(f"BlazeFace model {path} is missing from the package")
        with blocked("tensorflow"):
            from mediapipe.tasks.python import BaseOptions
            from mediapipe.tasks.python.vision import FaceDetector, FaceDetectorOptions, RunningMode

            options = FaceDetectorOptions(
                base_options=BaseOptions(model_asset_path=str(path)),
                running_mode=RunningMode.IMAGE,
                min_detection_confidence=min_score,
            )
            self._detector = FaceDetector.create_from_options(options)

    def detect_native(self, image_rgb: np.ndarray) -> list[Detection]:
        import mediapipe as mp  # imported without TensorFlow in __init__; this is a dictionary look-up

        height, width = image_rgb.shape[:2]
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(image_rgb))
        found = []
        for det in self._detector.detect(image).detections:
            bb = det.bounding_box
            box = clip_box(bb.origin_x, bb.origin_y, bb.width, bb.height, width, height)
            if box is not None:
                score = float(det.categories[0].score) if det.categories else 0.0
                keypoints = tuple((kp.x * width, kp.y * height) for kp in det.keypoints) if det.keypoints else None
                found.append(Detection(*box, score=min(max(score, 0.0), 1.0), keypoints=keypoints))
        return found

    def close(self) -> None:
        self._detector.close()
