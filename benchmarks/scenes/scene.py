"""Lay out the people of one condition and render its frames with per-frame ground truth.

An :class:`Actor` is one place in the scene: a moving centre, a face size, a
roll, and the spans of frames in which a person is there (a gap is
someone leaving; a new person in the next span is a replacement). Later actors
are drawn in front; a face more than half hidden by one in front is listed as
"ignore" (neither a miss nor a false face), as MOTChallenge's "don't care".
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from benchmarks.scenes import compose
from benchmarks.scenes.backgrounds import scene_background
from benchmarks.scenes.conditions import FPS, Condition
from benchmarks.scenes.faces import FacePool

HIDDEN = 0.5  # share of a face covered by a head in front above which it is "ignore"


@dataclass(frozen=True)
class Actor:
    spans: tuple[tuple[int, int, int], ...]  # (first frame, end frame (exclusive), pool index)
    x: float
    y: float
    vx: float
    vy: float
    size: int
    roll: float

    def centre(self, frame: int) -> tuple[float, float]:
        return self.x + self.vx * frame, self.y + self.vy * frame

    def person(self, frame: int) -> int | None:
        return next((index for first, end, index in self.spans if first <= frame < end), None)


def layout(cond: Condition, rng: np.random.Generator, population: int) -> list[Actor]:
    """Where everyone is, who they are and when, for ``cond.script``; no one appears in two places."""
    people = (int(i) for i in rng.permutation(population))
    n = cond.frames
    if cond.script == "crossing":
        size = int(rng.integers(cond.sizes[0], cond.sizes[1] + 1))
        left, right, y = cond.width * 0.25, cond.width * 0.75, cond.height / 2
        speed = (right - left) / n
        return [
            Actor(((0, n, next(people)),), left, y - 0.15 * size, speed, 0.0, size, 0.0),
            Actor(((0, n, next(people)),), right, y + 0.15 * size, -speed, 0.0, size, 0.0),
        ]
    actors: list[Actor] = []
    for k in range(cond.people):
        size, (x, y, vx, vy) = _place(cond, rng, actors)
        if cond.script == "swap" and k == 0:
            spans = _turnover(n, FPS, int(rng.integers(1, FPS)), people)
        elif cond.script == "leave_return" and k == 0:
            person, gone = next(people), n // 4
            spans = ((0, gone, person), (gone + round(1.5 * FPS), n, person))
        elif cond.turnover_s:
            every = round(cond.turnover_s * FPS)
            spans = _turnover(n, every, int(rng.integers(1, every)), people)
        else:
            spans = ((0, n, next(people)),)
        roll = float(rng.choice(cond.rolls)) * float(rng.choice([-1.0, 1.0]))
        actors.append(Actor(spans, x, y, vx, vy, size, roll))
    return actors


def _turnover(n: int, every: int, first: int, people: Iterator[int]) -> tuple[tuple[int, int, int], ...]:
    """Spans of a place whose person is replaced every ``every`` frames, the first time at frame ``first``.

    The first change falls on a random frame of its own for each place, so
    replacements are not in step with the frame count (nor with an ingest
    that detects every k-th frame: at every ``every``-th frame from 0, a
    detector running on every 3rd frame would meet each newcomer on arrival).
    """
    starts = [0, *range(first, n, every)]
    return tuple((f, min(n, end), next(people)) for f, end in zip(starts, [*starts[1:], n], strict=True))


def _place(cond: Condition, rng: np.random.Generator, others: list[Actor]) -> tuple[int, tuple[float, float, float, float]]:
    """A size and a start point and velocity keeping the face inside the frame and heads apart."""
    lo, hi = cond.sizes
    for attempt in range(400):
        size = int(rng.integers(lo, hi + 1)) if attempt < 300 else lo
        vx, vy = rng.uniform(-0.6, 0.6, 2)
        reach_x, reach_y = abs(vx) * cond.frames + size / 2 + 1, abs(vy) * cond.frames + size / 2 + 1
        if 2 * reach_x >= cond.width or 2 * reach_y >= cond.height:
            continue
        x, y = rng.uniform(reach_x, cond.width - reach_x), rng.uniform(reach_y, cond.height - reach_y)
        x, y = x - vx * cond.frames / 2, y - vy * cond.frames / 2
        apart = all(_apart(x, y, vx, vy, size, o, cond.frames) for o in others)
        if apart:
            return size, (float(x), float(y), float(vx), float(vy))
    raise ValueError(f"{cond.name}: cannot place {cond.people} faces of {lo}-{hi} px in {cond.width}x{cond.height}")


def _apart(x: float, y: float, vx: float, vy: float, size: int, other: Actor, frames: int) -> bool:
    gap = 1.3 * (size + other.size) / 2
    for f in (0, frames // 2, frames):
        ox, oy = other.centre(f)
        if abs(x + vx * f - ox) < gap and abs(y + vy * f - oy) < gap:
            return False
    return True


def render(cond: Condition, pool: FacePool, rng: np.random.Generator) -> Iterator[tuple[np.ndarray, dict[str, Any]]]:
    """(RGB uint8 frame, {"faces": [...], "ignore": [...]}) for every frame of the condition's clip."""
    actors = layout(cond, rng, len(pool.rows))
    background = scene_background(cond.height, cond.width, rng)
    patches: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
    for f in range(cond.frames):
        frame = background.copy()
        shown: list[tuple[int, dict[str, Any]]] = []
        for k, actor in enumerate(actors):
            index = actor.person(f)
            if index is None:
                continue
            row = int(pool.rows[index])
            if (k, index) not in patches:
                tone = compose.GRAY if cond.gray else compose.TONES[row % len(compose.TONES)]
                hair = compose.HAIR[row // len(compose.TONES) % len(compose.HAIR)]
                patches[(k, index)] = compose.head_patch(pool.images[index], actor.size, actor.roll, tone, hair)
            cx, cy = actor.centre(f)
            compose.paste(frame, *patches[(k, index)], cx, cy)
            face = {"id": f"fer{row}", "row": row, "label": pool.label(index), "box": compose.face_box(cx, cy, actor.size), "roll": actor.roll}
            shown.append((k, face))
        yield finish(frame, cond), _visible(shown)


def _visible(shown: list[tuple[int, dict[str, Any]]]) -> dict[str, Any]:
    faces: list[dict[str, Any]] = []
    ignore: list[dict[str, Any]] = []
    for i, (_, face) in enumerate(shown):
        covered = max((_covered(face["box"], front["box"]) for _, front in shown[i + 1 :]), default=0.0)
        (ignore if covered > HIDDEN else faces).append(face)
    return {"faces": faces, "ignore": [face["box"] for face in ignore]}


def _covered(box: list[float], front: list[float]) -> float:
    """Share of ``box`` under the head in front (its face box grown by a quarter each way)."""
    fx, fy, fw, fh = front[0] - front[2] / 4, front[1] - front[3] / 4, front[2] * 1.5, front[3] * 1.5
    ix = max(0.0, min(box[0] + box[2], fx + fw) - max(box[0], fx))
    iy = max(0.0, min(box[1] + box[3], fy + fh) - max(box[1], fy))
    return ix * iy / (box[2] * box[3])


def finish(frame: np.ndarray, cond: Condition) -> np.ndarray:
    """The scene-wide effects in camera order: gray, exposure, blur, JPEG; then 8 bits."""
    if cond.gray:
        frame = np.repeat(frame @ np.array([[0.299], [0.587], [0.114]], np.float32), 3, axis=2)
    if cond.brightness or cond.contrast != 1.0:
        frame = (frame - 128.0) * cond.contrast + 128.0 + cond.brightness
    if cond.blur:
        frame = cv2.GaussianBlur(frame, (0, 0), cond.blur)
    image: np.ndarray = np.clip(frame, 0, 255).astype(np.uint8)
    if cond.jpeg:
        _, data = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, cond.jpeg])
        decoded = cv2.imdecode(data, cv2.IMREAD_COLOR)
        if decoded is None:
            raise ValueError("JPEG round trip failed")
        image = np.ascontiguousarray(decoded[..., ::-1])
    return image
