#!/usr/bin/env python
"""Generate emostream's bundled demo clip and its ground-truth sidecar.

The clip (12 s, 15 fps, 640x360, H.264/yuv420p in MP4) animates two
public-domain portraits over a plain gradient background:

* ``astronaut``: NASA portrait of astronaut Eileen Collins, shipped with
  scikit-image as ``skimage.data.astronaut()`` (bundled with the package, no
  download needed);
* ``hopper``: official US Navy portrait of Grace M. Hopper, shipped with
  matplotlib as ``sample_data/grace_hopper.jpg``.

Timeline (seconds):

* 0.0 - 4.0   both faces, slow Ken-Burns zoom-in and drift;
* 4.0 - 5.2   ``hopper`` slides out of the frame on the right;
* 5.2 - 6.4   only ``astronaut`` is on screen;
* 6.4 - 7.6   ``hopper`` slides back in (it is absent from the sidecar in
              frames 69-105, i.e. 4.6 - 7.0 s);
* 7.6 - 8.6   both faces, drifting;
* 8.6 - 9.6   hard cut to the empty background: no face at all;
* 9.6 - 12.0  hard cut back to both faces, slow zoom-out.

Next to the clip it writes ``<stem>.json``::

    {"fps": 15, "frames": 180, "width": 640, "height": 360, ...,
     "faces": [[{"id": "astronaut", "box": [x, y, w, h], "visible": 1.0}, ...], ...]}

``faces[i]`` lists the faces in frame ``i``. ``box`` is the face box in
pixels, computed from the exact affine transform used to render the frame and
clipped to the frame; ``visible`` is the fraction of the unclipped box that lies
inside the frame. A face is listed when at least half of its box is inside the
frame. The face box of each source portrait (``SOURCE_FACES``) was obtained
once by running MediaPipe's BlazeFace short-range detector
(``face_detection_short_range.tflite``, mediapipe 1.2.2, Tasks API,
``FaceDetector`` in IMAGE mode) on the untouched source photo; it is a square
box from the brows to the chin, the same convention the detector uses.

The output is deterministic: no randomness, and x264 runs single-threaded.

Needs numpy, OpenCV, PyAV and matplotlib (all emostream dependencies) plus
scikit-image (``pip install scikit-image``) for the astronaut portrait;
``--check`` also needs mediapipe.

Usage::

    python scripts/make_demo_clip.py                   # writes src/emostream/assets/demo/demo.mp4 + demo.json
    python scripts/make_demo_clip.py --out /tmp/d.mp4
    python scripts/make_demo_clip.py --check           # then run both detectors on it and compare with the sidecar
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "src" / "emostream" / "assets" / "demo" / "demo.mp4"
DEFAULT_DETECTOR = ROOT / "src" / "emostream" / "assets" / "models" / "detector" / "face_detection_short_range.tflite"

WIDTH, HEIGHT, FPS, SECONDS = 640, 360, 15, 12.0
FRAMES = int(round(FPS * SECONDS))

# Face box [x, y, w, h] in each source portrait, from MediaPipe BlazeFace
# short-range (mediapipe 1.2.2) run on the source photo (scores 0.92 / 0.94).
# OpenCV's Haar frontal-face cascade finds [177, 66, 95, 95] and
# [155, 105, 222, 222] respectively.
SOURCE_FACES = {
    "astronaut": (177, 82, 95, 95),
    "hopper": (171, 146, 194, 194),
}

# Part of each portrait shown, relative to the face box: face-widths left and
# right of the face centre, face-heights above the face top and below the face
# bottom. The layer's edges are feathered into the background.
CROP = {"astronaut": (1.0, 0.7, 1.0), "hopper": (1.0, 0.7, 1.0)}
FEATHER = 0.12  # fraction of the layer's width/height used for the soft edge

# Cuts: frames in [NO_FACE_START, NO_FACE_END) show only the background.
NO_FACE_START, NO_FACE_END = 8.6, 9.6

# Keyframes per portrait: (time s, face centre x, face centre y, face height),
# all in output pixels. Between keyframes the values follow a cosine ease.
KEYFRAMES = {
    "astronaut": [
        (0.0, 165, 175, 122),
        (4.0, 180, 180, 140),
        (5.2, 205, 178, 142),
        (6.4, 230, 172, 140),
        (7.6, 175, 178, 136),
        (8.6, 170, 182, 134),
        (9.6, 185, 176, 150),
        (12.0, 170, 182, 122),
    ],
    "hopper": [
        (0.0, 470, 185, 128),
        (4.0, 462, 178, 146),
        (5.2, 880, 170, 146),
        (6.4, 880, 170, 146),
        (7.6, 470, 180, 140),
        (8.6, 476, 184, 136),
        (9.6, 455, 176, 156),
        (12.0, 472, 184, 126),
    ],
}
Z_ORDER = ("astronaut", "hopper")  # later ones are drawn on top


def load_portraits() -> dict[str, np.ndarray]:
    """The two source photos as RGB uint8 arrays."""
    import matplotlib.image as mpimg
    import skimage.data
    from matplotlib import cbook

    astronaut = np.ascontiguousarray(skimage.data.astronaut()[..., :3])
    hopper = np.ascontiguousarray(mpimg.imread(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))[..., :3])
    return {"astronaut": astronaut, "hopper": hopper}


def ease(u: float) -> float:
    return 0.5 - 0.5 * math.cos(math.pi * min(max(u, 0.0), 1.0))


def pose(name: str, t: float) -> tuple[float, float, float]:
    """(centre x, centre y, face height) of ``name``'s face at time ``t``."""
    keys = KEYFRAMES[name]
    if t <= keys[0][0]:
        return keys[0][1:]
    for (t0, *a), (t1, *b) in zip(keys, keys[1:]):
        if t <= t1:
            u = ease((t - t0) / (t1 - t0))
            return tuple(x + (y - x) * u for x, y in zip(a, b))
    return keys[-1][1:]


@dataclass
class Layer:
    image: np.ndarray  # RGB float32
    alpha: np.ndarray  # float32 in [0, 1], feathered crop mask in source coords
    face: tuple[float, float, float, float]


def make_layer(name: str, image: np.ndarray) -> Layer:
    fx, fy, fw, fh = SOURCE_FACES[name]
    side, above, below = CROP[name]
    cx = fx + fw / 2
    x0, x1 = max(0.0, cx - side * fw), min(image.shape[1], cx + side * fw)
    y0, y1 = max(0.0, fy - above * fh), min(image.shape[0], fy + fh + below * fh)
    xs, ys = np.arange(image.shape[1], dtype=np.float32) + 0.5, np.arange(image.shape[0], dtype=np.float32) + 0.5

    def ramp(v, lo, hi, width):
        a = np.clip((v - lo) / width, 0, 1) * np.clip((hi - v) / width, 0, 1)
        return a * a * (3 - 2 * a)  # smoothstep

    ax = ramp(xs, x0, x1, FEATHER * (x1 - x0))
    ay = ramp(ys, y0, y1, FEATHER * (y1 - y0))
    return Layer(image.astype(np.float32), np.outer(ay, ax).astype(np.float32), (fx, fy, fw, fh))


def transform(layer: Layer, cx: float, cy: float, height: float) -> np.ndarray:
    """2x3 affine matrix that puts the layer's face centre at (cx, cy), face ``height`` px tall."""
    fx, fy, fw, fh = layer.face
    s = height / fh
    return np.array([[s, 0, cx - s * (fx + fw / 2)], [0, s, cy - s * (fy + fh / 2)]], dtype=np.float64)


def face_box(layer: Layer, m: np.ndarray) -> tuple[list[float], float]:
    """Face box in the frame (clipped, rounded to 0.1 px) and its visible fraction."""
    fx, fy, fw, fh = layer.face
    x0, y0 = m[0, 0] * fx + m[0, 2], m[1, 1] * fy + m[1, 2]
    x1, y1 = m[0, 0] * (fx + fw) + m[0, 2], m[1, 1] * (fy + fh) + m[1, 2]
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, WIDTH), min(y1, HEIGHT)
    inside = max(cx1 - cx0, 0) * max(cy1 - cy0, 0)
    visible = inside / ((x1 - x0) * (y1 - y0))
    return [round(cx0, 1), round(cy0, 1), round(cx1 - cx0, 1), round(cy1 - cy0, 1)], round(visible, 3)


def background() -> np.ndarray:
    """A soft diagonal gradient, dark slate to muted teal (RGB float32)."""
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    u = (0.65 * yy / HEIGHT + 0.35 * xx / WIDTH)[..., None]
    top, bottom = np.array([38, 44, 58], np.float32), np.array([70, 96, 104], np.float32)
    return top * (1 - u) + bottom * u


def render(layers: dict[str, Layer], bg: np.ndarray, index: int) -> tuple[np.ndarray, list[dict]]:
    t = index / FPS
    frame = bg.copy()
    faces: list[dict] = []
    if NO_FACE_START <= t < NO_FACE_END:
        return frame.astype(np.uint8), faces
    for name in Z_ORDER:
        layer = layers[name]
        m = transform(layer, *pose(name, t))
        img = cv2.warpAffine(layer.image, m, (WIDTH, HEIGHT), flags=cv2.INTER_AREA if m[0, 0] < 1 else cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        a = cv2.warpAffine(layer.alpha, m, (WIDTH, HEIGHT), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)[..., None]
        frame = frame * (1 - a) + img * a
        box, visible = face_box(layer, m)
        if visible >= 0.5:
            faces.append({"id": name, "box": box, "visible": visible})
    return np.clip(frame + 0.5, 0, 255).astype(np.uint8), faces


def generate(out: Path) -> Path:
    layers = {name: make_layer(name, img) for name, img in load_portraits().items()}
    bg = background()
    out.parent.mkdir(parents=True, exist_ok=True)
    all_faces = []
    with av.open(str(out), mode="w", format="mp4") as container:
        container.metadata["title"] = "emostream demo clip"
        container.metadata["comment"] = "Generated by scripts/make_demo_clip.py from public-domain portraits; see NOTICE.md"
        stream = container.add_stream("libx264", rate=FPS, options={"crf": "26", "preset": "slow", "threads": "1"})
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.codec_context.thread_count = 1
        for i in range(FRAMES):
            rgb, faces = render(layers, bg, i)
            all_faces.append(faces)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    sidecar = {
        "fps": FPS,
        "frames": FRAMES,
        "width": WIDTH,
        "height": HEIGHT,
        "duration_s": FRAMES / FPS,
        "identities": list(Z_ORDER),
        "box_format": "[x, y, w, h] in pixels, clipped to the frame; a face is listed when >= 50% of its box is inside",
        "generator": "scripts/make_demo_clip.py",
        "faces": all_faces,
    }
    out.with_suffix(".json").write_text(json.dumps(sidecar, separators=(",", ":")) + "\n")
    return out


# --------------------------------------------------------------------------- check


def iou(a, b) -> float:
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw, ih = max(0, min(ax1, bx1) - max(a[0], b[0])), max(0, min(ay1, by1) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def match(truth: list[list[float]], found: list[list[float]], threshold: float = 0.3):
    """Greedy IoU matching; returns (matched IoUs, unmatched truth count, unmatched detections)."""
    pairs = sorted(((iou(t, d), i, j) for i, t in enumerate(truth) for j, d in enumerate(found)), reverse=True)
    used_t, used_d, ious = set(), set(), []
    for v, i, j in pairs:
        if v < threshold or i in used_t or j in used_d:
            continue
        used_t.add(i), used_d.add(j), ious.append(v)
    return ious, len(truth) - len(used_t), len(found) - len(used_d)


def check(out: Path, detector_model: Path) -> None:
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    truth = json.loads(out.with_suffix(".json").read_text())
    options = vision.FaceDetectorOptions(base_options=BaseOptions(model_asset_path=str(detector_model)),
                                         running_mode=vision.RunningMode.IMAGE)
    haar = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    stats = {k: {"counts": [0, 0, 0, 0], "ious": [], "missed": 0, "false": 0, "exact": 0} for k in ("mediapipe", "haar")}
    n_truth = 0
    detector = vision.FaceDetector.create_from_options(options)
    try:
        with av.open(str(out)) as container:
            for i, frame in enumerate(container.decode(video=0)):
                rgb = frame.to_ndarray(format="rgb24")
                gt = [f["box"] for f in truth["faces"][i]]
                n_truth += len(gt)
                res = detector.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb)))
                found = {
                    "mediapipe": [[d.bounding_box.origin_x, d.bounding_box.origin_y, d.bounding_box.width, d.bounding_box.height]
                                  for d in res.detections],
                    "haar": [list(map(int, b)) for b in haar.detectMultiScale(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), 1.1, 5, minSize=(30, 30))],
                }
                for k, boxes in found.items():
                    s = stats[k]
                    s["counts"][min(len(boxes), 3)] += 1
                    ious, missed, false = match(gt, boxes)
                    s["ious"] += ious
                    s["missed"] += missed
                    s["false"] += false
                    s["exact"] += int(missed == 0 and false == 0)
    finally:
        detector.close()
    frames = truth["frames"]
    gt_counts = [sum(1 for f in truth["faces"] if len(f) == n) for n in range(3)]
    print(f"ground truth: {frames} frames, {n_truth} face-frames; frames with 0/1/2 faces: {gt_counts}")
    for k, s in stats.items():
        ious = np.array(s["ious"]) if s["ious"] else np.zeros(1)
        print(f"{k:9s} frames with 0/1/2/3+ detections: {s['counts']}; "
              f"recall {len(s['ious'])}/{n_truth} = {len(s['ious']) / max(n_truth, 1):.1%} (IoU >= 0.3); "
              f"false positives {s['false']}; frames with exactly the right faces {s['exact']}/{frames}; "
              f"IoU mean {ious.mean():.2f} median {np.median(ious):.2f} min {ious.min():.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output .mp4 (default: {DEFAULT_OUT.relative_to(ROOT)}); the sidecar goes next to it as .json")
    parser.add_argument("--check", action="store_true", help="after writing, run MediaPipe and Haar detectors on every frame and compare with the sidecar")
    parser.add_argument("--detector", type=Path, default=DEFAULT_DETECTOR, help="BlazeFace .tflite used by --check")
    args = parser.parse_args(argv)
    out = generate(args.out)
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KiB, {FRAMES} frames, {FRAMES / FPS:.1f} s) and {out.with_suffix('.json').name}")
    if args.check:
        check(out, args.detector)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
