"""Frames for the detector sweep: two portraits pasted at known face sizes into textured frames, and faceless frames.

The faces are skimage's astronaut and matplotlib's Grace Hopper, each also
mirrored. The face box in each portrait is found once by MediaPipe's
short-range model on the full-size portrait; a square crop of 1.6 face sides
around it is scaled so the face is the wanted size and pasted (hard-edged)
into a background made of skimage textures (brick, grass, gravel), at seeded
positions. Faceless frames: skimage images with no person in them, text,
clouds with a title, noise, stripes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import matplotlib.cbook
import numpy as np
from skimage import data as skdata

FACE_SIZES = (24, 32, 48, 64, 96, 128, 192, 300)
FRAME_SIZES = ((640, 480), (1280, 720))
CROP = 1.6  # crop side in face sides
POSITIONS = 8


@dataclass(frozen=True)
class Face:
    image: np.ndarray  # RGB square crop around the face
    face: tuple[float, float, float]  # face box x0, y0, side within the crop


@dataclass(frozen=True)
class Frame:
    name: str
    image: np.ndarray  # RGB
    truth: list[tuple[int, int, int, int]]  # face boxes x, y, w, h
    size: int  # face side (0: faceless)


def sk(name: str) -> np.ndarray:
    """One of skimage's bundled images (skimage.data is untyped)."""
    return np.asarray(getattr(skdata, name)())


def portraits() -> list[np.ndarray]:
    bgr = cv2.imread(str(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))
    assert bgr is not None, "matplotlib's grace_hopper.jpg is missing"
    hopper = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    astronaut = sk("astronaut")
    return [astronaut, hopper, np.ascontiguousarray(astronaut[:, ::-1]), np.ascontiguousarray(hopper[:, ::-1])]


def faces() -> list[Face]:
    """Each portrait's face as a crop with a known face box, found once by MediaPipe short range."""
    from emostream.detector.blazeface import BlazeFaceDetector

    out = []
    with BlazeFaceDetector("short", 0.5) as detector:
        for portrait in portraits():
            (det,) = detector.detect_native(portrait)
            side = max(det.w, det.h)
            cx, cy = det.x + det.w / 2, det.y + det.h / 2
            half = CROP * side / 2
            pad = int(half) + 2
            padded = cv2.copyMakeBorder(portrait, pad, pad, pad, pad, cv2.BORDER_REFLECT)
            x0, y0 = round(cx - half) + pad, round(cy - half) + pad
            crop = padded[y0 : y0 + round(2 * half), x0 : x0 + round(2 * half)]
            offset = (crop.shape[0] - side) / 2
            out.append(Face(np.ascontiguousarray(crop), (offset, offset, float(side))))
    return out


def background(width: int, height: int, seed: int) -> np.ndarray:
    texture = sk(["brick", "grass", "gravel"][seed % 3])
    rgb = cv2.cvtColor(texture, cv2.COLOR_GRAY2RGB) if texture.ndim == 2 else texture
    tiled = np.tile(rgb, (height // rgb.shape[0] + 1, width // rgb.shape[1] + 1, 1))[:height, :width]
    tint = np.random.default_rng(seed).uniform(0.6, 1.2, 3)
    return np.clip(tiled * tint, 0, 255).astype(np.uint8)


def face_frames() -> Iterator[Frame]:
    rng = np.random.default_rng(7)
    crops = faces()
    for width, height in FRAME_SIZES:
        for size in FACE_SIZES:
            for index, face in enumerate(crops):
                for position in range(POSITIONS):
                    frame = background(width, height, index + position)
                    k = size / face.face[2]
                    side = round(face.image.shape[0] * k)
                    scaled = cv2.resize(face.image, (side, side), interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR)
                    fx, fy = face.face[0] * k, face.face[1] * k
                    x = int(rng.uniform(-fx, width - fx - size))  # the face inside the frame, the crop maybe not
                    y = int(rng.uniform(-fy, height - fy - size))
                    paste(frame, scaled, x, y)
                    truth = (round(x + fx), round(y + fy), size, size)
                    yield Frame(f"{width}x{height} face{index} {size}px #{position}", frame, [truth], size)


def paste(frame: np.ndarray, patch: np.ndarray, x: int, y: int) -> None:
    h, w = frame.shape[:2]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + patch.shape[1], w), min(y + patch.shape[0], h)
    frame[y0:y1, x0:x1] = patch[y0 - y : y1 - y, x0 - x : x1 - x]


def faceless_images() -> dict[str, np.ndarray]:
    def rgb(image: np.ndarray) -> np.ndarray:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB) if image.ndim == 2 else image[:, :, :3]

    rng = np.random.default_rng(3)
    text = np.full((480, 640, 3), 245, np.uint8)
    for row, line in enumerate(["Quarterly report", "Revenue up 12%", "Meeting at 10:30", "EMOSTREAM 2026", "Lorem ipsum dolor"]):
        cv2.putText(text, line, (20, 80 + row * 85), cv2.FONT_HERSHEY_SIMPLEX, 1.6 + row % 2, (20, 20, 20), 3, cv2.LINE_AA)
    clouds = cv2.GaussianBlur(rng.normal(0, 1, (480, 640)).astype(np.float32), (0, 0), 25)
    clouds = (clouds - clouds.min()) / (np.ptp(clouds) + 1e-6)
    sky = np.stack([150 + 100 * clouds, 180 + 70 * clouds, np.full_like(clouds, 240)], axis=-1).astype(np.uint8)
    cv2.putText(sky, "SUMMER SKY", (40, 260), cv2.FONT_HERSHEY_DUPLEX, 3.0, (255, 255, 255), 8, cv2.LINE_AA)
    stripes = np.zeros((480, 640, 3), np.uint8)
    stripes[:, (np.arange(640) // 20) % 2 == 0] = 255
    return {
        "coffee": sk("coffee"),
        "rocket": sk("rocket"),
        "chelsea (cat)": sk("chelsea"),
        "hubble": sk("hubble_deep_field"),
        "horse": rgb(sk("horse").astype(np.uint8) * 255),
        "page": rgb(sk("page")),
        "brick": rgb(sk("brick")),
        "text (putText)": text,
        "sky with title": sky,
        "noise": rng.integers(0, 256, (480, 640, 3), dtype=np.uint8),
        "stripes": stripes,
    }


def faceless_frames() -> Iterator[Frame]:
    for name, image in faceless_images().items():
        for width, height in FRAME_SIZES:
            yield Frame(f"{name} {width}x{height}", cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA), [], 0)
