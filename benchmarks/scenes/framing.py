"""Where BlazeFace's keypoints fall on a FER2013 face: the study behind the upright crop's framing.

A scene clip's ground truth is the pasted 48x48 FER face (its centre, side
and roll), which is exactly the framing the emotion model was trained on. For
every detection matched to a face this prints the keypoints and the box in
that face's own upright frame (origin at the face's centre, unit = its side),
so the crop that reproduces FER's framing can be read off: where the eyes sit,
how far apart they are, and how well the eye line measures the roll.
``python -m benchmarks.scenes.framing --split tune roll_0 roll_15 roll_30`` (in scenes, with the roll
error); ``python -m benchmarks.scenes.framing --pasted 300`` (the template: many faces, mirrored too).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.scenes.detect import decode
from benchmarks.scenes.faces import SPLITS
from benchmarks.scenes.generate import CACHE, load_truth
from emostream.detector import Detection

NAMES = ("right eye", "left eye", "nose", "mouth")


def _matched(meta: dict[str, Any], frame: int, detections: list[Detection]) -> list[tuple[dict[str, Any], Detection]]:
    pairs = []
    for face in meta["faces"][frame]:
        x, y, w, h = face["box"]
        for det in detections:
            cx, cy = det.x + det.w / 2, det.y + det.h / 2
            if x <= cx <= x + w and y <= cy <= y + h and det.keypoints:
                pairs.append((face, det))
                break
    return pairs


def _upright(face: dict[str, Any], points: np.ndarray) -> np.ndarray:
    """Points in the face's own frame: undo the roll about its centre, scale by its side."""
    x, y, size, _ = face["box"]
    theta = math.radians(face["roll"])
    # The head was turned with cv2.getRotationMatrix2D(centre, roll): screen-counter-clockwise for positive roll.
    back = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    return np.asarray((points - [x + size / 2, y + size / 2]) @ back.T / size)


def study(paths: list[Path], backend: str) -> None:
    from emostream.config import load_config
    from emostream.detector import make_detector

    cfg = load_config(None)
    cfg = cfg.model_copy(update={"detector": cfg.detector.model_copy(update={"backend": backend})})
    rows, errors, boxes = [], [], []
    with make_detector(cfg.detector) as detector:
        for path in paths:
            meta = load_truth(path)
            for index, rgb in enumerate(decode(path)):
                image = rgb if detector.colour == "rgb" else np.ascontiguousarray(rgb[:, :, ::-1])
                for face, det in _matched(meta, index, detector.detect_native(image)):
                    points = np.asarray((det.keypoints or ())[:4], np.float64)  # _matched keeps only boxes with keypoints
                    rows.append(_upright(face, points))
                    (rx, ry), (lx, ly) = points[0], points[1]
                    measured = -math.degrees(math.atan2(ly - ry, lx - rx))  # screen-counter-clockwise, as the roll
                    errors.append(measured - face["roll"])
                    size = face["box"][2]
                    boxes.append((det.w / size, det.h / size, (det.x + det.w / 2 - face["box"][0]) / size - 0.5,
                                  (det.y + det.h / 2 - face["box"][1]) / size - 0.5))
    pts = np.stack(rows)
    print(f"{backend}: {len(pts)} matched detections")
    for i, name in enumerate(NAMES):
        mean, sd = pts[:, i].mean(axis=0), pts[:, i].std(axis=0)
        print(f"  {name:9s} x {mean[0]:+.3f} ±{sd[0]:.3f}  y {mean[1]:+.3f} ±{sd[1]:.3f}  (face side units, from its centre)")
    eyes = np.linalg.norm(pts[:, 1] - pts[:, 0], axis=1)
    mid = (pts[:, 0] + pts[:, 1]) / 2
    drop = np.linalg.norm((pts[:, 2] + pts[:, 3]) / 2 - mid, axis=1)
    err = np.asarray(errors)
    box = np.asarray(boxes)
    print(f"  eye distance {eyes.mean():.3f} ±{eyes.std():.3f}; eye mid to nose-mouth mid {drop.mean():.3f} ±{drop.std():.3f}")
    print(f"  eye-line roll error {err.mean():+.1f}° ±{err.std():.1f}° (|err| p95 {np.percentile(np.abs(err), 95):.1f}°)")
    print(f"  box w {box[:, 0].mean():.3f} ±{box[:, 0].std():.3f}, h {box[:, 1].mean():.3f}; centre offset "
          f"x {box[:, 2].mean():+.3f} y {box[:, 3].mean():+.3f} (face side units)")


def pasted(count: int, backend: str, size: int = 120) -> None:
    """The template: ``count`` FER faces, each also mirrored, pasted upright alone on a plain frame.

    Mirroring makes the mean symmetric (a level eye line by construction) and
    cancels any handedness of the detector; hundreds of people, where a
    scene clip holds a few dozen.
    """
    from benchmarks.scenes.compose import head_patch, paste
    from benchmarks.scenes.faces import face_pool
    from emostream.config import load_config
    from emostream.detector import make_detector

    cfg = load_config(None)
    cfg = cfg.model_copy(update={"detector": cfg.detector.model_copy(update={"backend": backend})})
    pool = face_pool("tune", CACHE)
    truth = {"box": [160 - size // 2, 160 - size // 2, size, size], "roll": 0.0}
    rows, boxes = [], []
    with make_detector(cfg.detector) as detector:
        for index in range(count):
            for face in (pool.images[index], pool.images[index][:, ::-1]):
                frame = np.full((320, 320, 3), 110.0, np.float32)
                paste(frame, *head_patch(np.ascontiguousarray(face), size, 0.0, (0.9, 0.7, 0.5), (0.2, 0.15, 0.1)), 160, 160)
                rgb = frame.astype(np.uint8)
                found = detector.detect_native(rgb if detector.colour == "rgb" else np.ascontiguousarray(rgb[:, :, ::-1]))
                if len(found) == 1 and found[0].keypoints:
                    det, keypoints = found[0], found[0].keypoints
                    rows.append(_upright(truth, np.asarray(keypoints[:4], np.float64)))
                    boxes.append((det.w / size, (det.x + det.w / 2 - 160) / size, (det.y + det.h / 2 - 160) / size))
    pts, box = np.stack(rows), np.asarray(boxes)
    print(f"{backend}: {len(pts)} detections of {2 * count} pasted faces ({size} px)")
    for i, name in enumerate(NAMES):
        mean, sd = pts[:, i].mean(axis=0), pts[:, i].std(axis=0)
        print(f"  {name:9s} x {mean[0]:+.3f} ±{sd[0]:.3f}  y {mean[1]:+.3f} ±{sd[1]:.3f}")
    print(f"  box side {box[:, 0].mean():.3f} ±{box[:, 0].std():.3f}; centre x {box[:, 1].mean():+.3f} y {box[:, 2].mean():+.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", nargs="*")
    parser.add_argument("--pasted", type=int, default=0, help="instead: this many FER faces (and their mirror images) pasted alone")
    parser.add_argument("--split", default="tune", choices=sorted(SPLITS))
    parser.add_argument("--backend", default="yunet", choices=("yunet", "mediapipe", "blazeface"))
    args = parser.parse_args()
    if args.pasted:
        pasted(args.pasted, args.backend)
        return
    study([CACHE / args.split / f"{name}.mp4" for name in args.clips], args.backend)


if __name__ == "__main__":
    main()
