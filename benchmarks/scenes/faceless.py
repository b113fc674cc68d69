"""Faceless clips: frames in which there is no face at all, for false faces per minute.

Each clip is a run of 10-second shots of one kind (titles, clouds, patterns,
textures, colour bars, pictures); within a shot the camera pans slowly over a
canvas a quarter larger than the frame, so the detector sees the content move
and scale as in real footage. Generated in numpy (PyAV cannot run lavfi graphs
as an input), deterministic for a seed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from benchmarks.scenes import backgrounds as bg

SHOT_S = 10.0
TITLES = (
    "BREAKING\nNEWS", "OPEN 9-17", "EMOSTREAM", "SALE 50%", "WELCOME\nHOME", "GATE B12", "EXIT", "00:42:17",
    "QUARTERLY\nRESULTS", "NO ENTRY", "CHAPTER 3", "OK GO", "LOBBY", "THE END",
)
Canvas = Callable[[int, int, np.random.Generator], np.ndarray]


def _canvas(kind: str) -> Canvas:
    pictures = [p for p in bg.PICTURES if p not in ("brick", "grass", "gravel")]
    makers: dict[str, Canvas] = {
        "text": lambda h, w, rng: bg.title(h, w, rng, str(rng.choice(TITLES))),
        "clouds": bg.clouds,
        "patterns": bg.pattern,
        "textures": lambda h, w, rng: bg.noise(h, w, rng, float(rng.uniform(4, 40))) if rng.random() < 0.5
        else bg.picture(str(rng.choice(["brick", "grass", "gravel"])), h, w),
        "bars": bg.bars,
        "pictures": lambda h, w, rng: bg.picture(str(rng.choice(pictures)), h, w),
    }
    return makers[kind]


def frames(kind: str, width: int, height: int, count: int, fps: float, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """``count`` RGB uint8 frames of ``kind``, a new shot every :data:`SHOT_S` seconds."""
    make = _canvas(kind)
    per_shot = max(1, round(SHOT_S * fps))
    big_w, big_h = int(width * 1.25), int(height * 1.25)
    for start in range(0, count, per_shot):
        canvas = np.clip(make(big_h, big_w, rng), 0, 255).astype(np.uint8)
        (x0, y0), (x1, y1) = rng.integers(0, [big_w - width + 1, big_h - height + 1], size=(2, 2))
        shot = min(per_shot, count - start)
        for i in range(shot):
            t = i / max(1, shot - 1)
            x, y = round(x0 + (x1 - x0) * t), round(y0 + (y1 - y0) * t)
            yield np.ascontiguousarray(canvas[y : y + height, x : x + width])
