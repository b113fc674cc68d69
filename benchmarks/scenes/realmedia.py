"""Real photos with hand-annotated faces, shown to the detector at their own size and scaled down.

Only pictures that ship inside installed packages and may be redistributed
(``real_faces.json``; provenance in NOTICE). Each is placed, at a few scales,
centred on a 1280x720 mid-gray canvas, so the same face is seen at camera-like
sizes, and once as it is; the detector (the configuration's, default or ``--config``) must find it.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from benchmarks.scenes.evaluate import Report, match_frame

ANNOTATIONS = Path(__file__).with_name("real_faces.json")
FACE_SIZES = (32, 48, 64, 96, 128, 0)  # target face width in px; 0: the photo's own size


def load_photo(name: str) -> np.ndarray:
    """RGB uint8 pixels of a named photo."""
    if name == "astronaut":
        import skimage.data

        return np.ascontiguousarray(skimage.data.astronaut())  # type: ignore[no-untyped-call]
    if name == "grace_hopper":
        import matplotlib.cbook

        path = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
        image: np.ndarray | None = cv2.imread(str(path))
        if image is None:
            raise FileNotFoundError(path)
        return np.ascontiguousarray(image[:, :, ::-1])
    raise KeyError(name)


def staged(photo: np.ndarray, faces: list[list[float]], face_px: int) -> tuple[np.ndarray, list[list[float]]]:
    """The photo scaled so its first face is ``face_px`` wide, on a 1280x720 canvas; the boxes moved along.

    ``face_px`` 0: the photo as it is, no canvas (as ``emostream analyze`` sees it).
    """
    if not face_px:
        return photo, faces
    scale = face_px / faces[0][2]
    image = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    canvas = np.full((720, 1280, 3), 128, np.uint8)
    h, w = min(720, image.shape[0]), min(1280, image.shape[1])
    y0, x0 = (720 - h) // 2, (1280 - w) // 2
    canvas[y0 : y0 + h, x0 : x0 + w] = image[:h, :w]
    return canvas, [[x * scale + x0, y * scale + y0, bw * scale, bh * scale] for x, y, bw, bh in faces]


def detect_photos(config: Path | None = None) -> list[list[object]]:
    """Rows (photo, frame, face px, faces, found, false faces) with the configuration's detector."""
    from emostream.config import load_config
    from emostream.detector import make_detector

    rows: list[list[object]] = []
    with make_detector(load_config(config).detector) as detector:
        for photo in json.loads(ANNOTATIONS.read_text())["photos"]:
            pixels = load_photo(photo["name"])
            for size in FACE_SIZES:
                image, boxes = staged(pixels, photo["faces"], size)
                native = image if detector.colour == "rgb" else np.ascontiguousarray(image[:, :, ::-1])
                reports = [Report((d.x, d.y, d.w, d.h)) for d in detector.detect_native(native)]
                truth = [{"box": b} for b in boxes]
                found = len(match_frame(truth, reports))
                frame = f"{image.shape[1]}×{image.shape[0]}" + ("" if size else " (as it is)")
                rows.append([photo["name"], frame, round(boxes[0][2]), len(boxes), found, len(reports) - found])
    return rows
