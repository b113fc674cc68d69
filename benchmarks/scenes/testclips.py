"""Small clips with ground truth for the test suite, one per condition of issue #23.

Each function writes ``<name>.mp4`` and ``<name>.json`` (the benchmark's
ground-truth format, see :mod:`benchmarks.scenes.generate`) into ``folder``
and returns a :class:`TestClip`. Faces come from the ``tune`` split's FER pool
(FER2013 Training; needs ``../shared/data/fer2013`` or ``EMOSTREAM_FER_DIR``
the first time, then the cache under ``build/scenes``); ``seed`` varies the
scene. Everything is deterministic for given arguments.

- :func:`gray_swap`: one place, a different gray FER person every second;
- :func:`turnover`: ``people`` places, a different FER person in each every
  second (the scene benchmark's ``medium_640`` and ``gray`` in small);
- :func:`changing_light`: the same people throughout while the picture changes
  suddenly, every ``step_s``: dimmer, blurred, brighter (clipped highlights),
  gray (a camera's night mode), JPEG-compressed, each followed by the plain view;
- :func:`faceless_text`: titles in large letters, no face; :func:`faceless_clip`: any faceless kind;
- :func:`tilted_face`: one face rolled by ``roll`` degrees;
- :func:`group`: ``people`` faces of 60-90 px (``sizes``) in one 640x480 frame;
- :func:`distant_faces`: small faces in a large frame (1280x720 by default);
- :func:`short_file`: a file whose container claims ``frames`` frames but
  holds ``frames - missing`` decodable ones (the last packets cut off, the
  index left as it was: ``stream.frames`` still says ``frames``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np

from benchmarks.scenes import faceless, scene
from benchmarks.scenes.conditions import FPS, Condition
from benchmarks.scenes.encode import write_mp4
from benchmarks.scenes.faces import face_pool
from benchmarks.scenes.generate import CACHE, rng_for


@dataclass(frozen=True)
class TestClip:
    path: Path
    truth: dict[str, Any]  # fps, frames, width, height, faces[f] = [{id, row, label, box, roll}], ignore[f]

    @property
    def people(self) -> set[str]:
        return {face["id"] for faces in self.truth["faces"] for face in faces}


def _write(
    folder: Path, cond: Condition, seed: int, cache: Path, faststart: bool = False, effect: Callable[[int], Condition] | None = None
) -> TestClip:
    """Render ``cond`` into ``folder``; ``effect(frame index)``, if given, is a condition whose picture effects
    (exposure, blur, gray, JPEG) that frame gets on top of the scene."""
    folder.mkdir(parents=True, exist_ok=True)
    pool = face_pool("tune", cache)
    truth: list[dict[str, Any]] = []

    def frames() -> Any:
        for index, (image, faces) in enumerate(scene.render(cond, pool, rng_for("tune", f"{cond.name}-{seed}"))):
            truth.append(faces)
            yield image if effect is None else scene.finish(image.astype(np.float32), effect(index))

    path = folder / f"{cond.name}.mp4"
    write_mp4(path, frames(), FPS, cond.crf, faststart)
    meta = {"name": cond.name, "fps": FPS, "frames": len(truth), "width": cond.width, "height": cond.height, "gray": cond.gray,
            "faceless": False, "faces": [t["faces"] for t in truth], "ignore": [t["ignore"] for t in truth]}
    path.with_suffix(".json").write_text(json.dumps(meta))
    return TestClip(path, meta)


def turnover(folder: Path, people: int = 4, seconds: float = 3.0, gray: bool = False, seed: int = 0, cache: Path = CACHE) -> TestClip:
    cond = Condition(f"turnover{'_gray' if gray else ''}", people=people, sizes=(64, 128), seconds=seconds, turnover_s=1.0, gray=gray)
    return _write(folder, cond, seed, cache)


#: What :func:`changing_light` does to the picture, in turn (each change is followed by the plain picture).
CHANGES: tuple[dict[str, Any], ...] = (
    {"brightness": -60.0, "contrast": 0.55}, {"blur": 2.0}, {"brightness": 45.0, "contrast": 1.3}, {"gray": True}, {"jpeg": 20},
)


def changing_light(folder: Path, people: int = 2, step_s: float = 0.6, seed: int = 0, cache: Path = CACHE) -> TestClip:
    """``people`` colour faces that stay in place (drifting) while the whole picture changes at once, every ``step_s``.

    The clip alternates the plain picture with each of :data:`CHANGES`, so every
    change comes and goes suddenly, as a light switched on, autofocus hunting, a
    camera switching to night mode or a stream's bitrate dropping would. One
    person should keep one track throughout.
    """
    seconds = step_s * 2 * len(CHANGES)
    cond = Condition("changing_light", people=people, sizes=(90, 120), seconds=seconds)
    step = round(step_s * FPS)

    def effect(index: int) -> Condition:
        change = CHANGES[index // step // 2] if index // step % 2 else {}
        return Condition(cond.name, **change)

    return _write(folder, cond, seed, cache, effect=effect)


def gray_swap(folder: Path, seconds: float = 4.0, seed: int = 0, cache: Path = CACHE) -> TestClip:
    cond = Condition("gray_swap", people=1, sizes=(110, 130), seconds=seconds, script="swap", gray=True)
    return _write(folder, cond, seed, cache)


def tilted_face(folder: Path, roll: float = 20.0, seconds: float = 2.0, seed: int = 0, cache: Path = CACHE) -> TestClip:
    cond = Condition(f"tilted_{roll:g}", people=1, sizes=(110, 130), rolls=(roll,), seconds=seconds)
    return _write(folder, cond, seed, cache)


def group(
    folder: Path, people: int = 5, seconds: float = 2.0, seed: int = 0, cache: Path = CACHE, sizes: tuple[int, int] = (60, 90)
) -> TestClip:
    cond = Condition(f"group_{people}", people=people, sizes=sizes, seconds=seconds)
    return _write(folder, cond, seed, cache)


def distant_faces(
    folder: Path, width: int = 1280, height: int = 720, people: int = 4, sizes: tuple[int, int] = (40, 56), seconds: float = 2.0,
    seed: int = 0, cache: Path = CACHE,
) -> TestClip:
    """``people`` small faces (``sizes`` px) in a large frame, as a camera across a room sees them."""
    cond = Condition(f"distant_{width}x{height}", width=width, height=height, people=people, sizes=sizes, seconds=seconds)
    return _write(folder, cond, seed, cache)


def faceless_text(folder: Path, seconds: float = 3.0, seed: int = 0) -> TestClip:
    return faceless_clip(folder, "text", seconds, seed)


def faceless_clip(folder: Path, kind: str, seconds: float = 3.0, seed: int = 0) -> TestClip:
    """640x480 frames without a face: one of the benchmark's faceless kinds (text, clouds, patterns, textures, bars, pictures)."""
    folder.mkdir(parents=True, exist_ok=True)
    count = round(seconds * FPS)
    name = f"faceless_{kind}"
    path = folder / f"{name}.mp4"
    write_mp4(path, faceless.frames(kind, 640, 480, count, FPS, rng_for("tune", f"{name}-{seed}")), FPS)
    meta = {"name": name, "fps": FPS, "frames": count, "width": 640, "height": 480, "gray": False, "faceless": True,
            "faces": [[] for _ in range(count)], "ignore": [[] for _ in range(count)]}
    path.with_suffix(".json").write_text(json.dumps(meta))
    return TestClip(path, meta)


def short_file(folder: Path, frames: int = 98, missing: int = 3, seed: int = 0, cache: Path = CACHE) -> TestClip:
    """A one-face clip of ``frames`` frames whose last ``missing`` packets are cut off the end of the file.

    Written with the index in front (``+faststart``) and without B-frames, so
    packets sit in the file in display order after the index; truncating the
    file at the first missing packet's byte offset leaves an intact index that
    still counts ``frames`` (what a demuxer reports as the stream's frame count),
    and ``frames - missing`` packets that decode cleanly. FFmpeg plays it
    without an error.
    """
    cond = Condition("short_file", people=1, sizes=(100, 120), seconds=frames / FPS)
    clip = _write(folder, cond, seed, cache, faststart=True)
    with av.open(str(clip.path)) as container:
        positions = [p.pos for p in container.demux(video=0) if p.size]
    cut = positions[frames - missing]
    with open(clip.path, "r+b") as handle:
        handle.truncate(cut)
    meta = {**clip.truth, "frames": frames - missing, "declared_frames": frames,
            "faces": clip.truth["faces"][: frames - missing], "ignore": clip.truth["ignore"][: frames - missing]}
    clip.path.with_suffix(".json").write_text(json.dumps(meta))
    return TestClip(clip.path, meta)

