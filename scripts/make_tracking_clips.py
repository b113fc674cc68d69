#!/usr/bin/env python
"""Generate the tracking test clips, each with per-frame ground truth: face box and identity.

Five short clips (320x240, 15 fps, H.264/yuv420p in MP4) animate the same two
public-domain portraits as the demo clip (``astronaut``: NASA portrait of Eileen
Collins from scikit-image; ``hopper``: US Navy portrait of Grace M. Hopper from
matplotlib; provenance and licence in ``tests/data/tracking/NOTICE.md``), over a
plain gradient, each testing one thing a tracker gets wrong:

* ``swap``: one seat; astronaut, hard cut to hopper in the very same place,
  hard cut back to astronaut (a counter, a kiosk: no one may inherit a track);
* ``crossing``: the two walk past each other, hopper in front, hiding astronaut;
* ``occlusion``: astronaut walks behind a pillar and out the other side;
* ``leave_return``: hopper leaves the view for about 2 s and comes back while
  astronaut stays (re-identification);
* ``scale``: astronaut comes close (face 45 -> 140 px tall) and goes back.

Next to each ``<name>.mp4`` goes ``<name>.json`` (the demo clip's format)::

    {"fps": 15, "frames": N, "width": 320, "height": 240, "identities": [...],
     "faces": [[{"id": "astronaut", "box": [x, y, w, h], "visible": 1.0}, ...], ...]}

``box`` comes from the exact transform used to render the frame, clipped to
the frame; ``visible`` is the share of the face box that is inside the frame
and not hidden by a layer in front or by the pillar. A face is listed in
``faces`` when at least half of it is visible, and in ``partial`` (a
"don't care" region, as in MOTChallenge) when less: a tracker is neither
rewarded nor penalised for the boxes it reports on a half-hidden face. Deterministic: no randomness, x264 single-threaded.

Needs numpy, OpenCV, PyAV, matplotlib and scikit-image (the ``dev`` extra).

Usage::

    python scripts/make_tracking_clips.py            # writes tests/data/tracking/*.mp4 + *.json
    python scripts/make_tracking_clips.py --out /tmp/clips
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "tests" / "data" / "tracking"
WIDTH, HEIGHT, FPS = 320, 240, 15

# Face box [x, y, w, h] in each source portrait (BlazeFace short-range on the untouched photo; see scripts/make_demo_clip.py).
SOURCE_FACES = {"astronaut": (177, 82, 95, 95), "hopper": (171, 146, 194, 194)}
CROP = (1.0, 0.7, 1.0)  # face-widths either side of the centre, face-heights above and below the face box
FEATHER = 0.12

Key = tuple[float, float, float, float]  # time s, face centre x, face centre y, face height (output pixels)


@dataclass(frozen=True)
class Appearance:
    """One person on screen from ``start`` to ``end`` (hard cuts), moving through ``keys``."""

    person: str
    start: float
    end: float
    keys: tuple[Key, ...]


@dataclass(frozen=True)
class Scenario:
    seconds: float
    appearances: tuple[Appearance, ...]  # later ones are drawn in front
    pillar: tuple[int, int] | None = None  # x range of an occluding pillar, full height


SCENARIOS = {
    "swap": Scenario(6.0, (
        Appearance("astronaut", 0.0, 2.0, ((0.0, 160, 118, 92), (2.0, 164, 120, 96))),
        Appearance("hopper", 2.0, 4.0, ((2.0, 162, 120, 94), (4.0, 158, 118, 92))),
        Appearance("astronaut", 4.0, 6.0, ((4.0, 160, 120, 94), (6.0, 156, 118, 90))),
    )),
    "crossing": Scenario(5.0, (
        Appearance("astronaut", 0.0, 5.0, ((0.0, 60, 110, 78), (5.0, 262, 116, 78))),
        Appearance("hopper", 0.0, 5.0, ((0.0, 262, 130, 80), (5.0, 58, 124, 80))),
    )),
    "occlusion": Scenario(4.0, (
        Appearance("astronaut", 0.0, 4.0, ((0.0, 40, 118, 80), (4.0, 282, 122, 80))),
    ), pillar=(140, 188)),
    "leave_return": Scenario(6.0, (
        Appearance("astronaut", 0.0, 6.0, ((0.0, 84, 120, 82), (3.0, 92, 116, 84), (6.0, 86, 122, 82))),
        Appearance("hopper", 0.0, 6.0, ((0.0, 236, 124, 82), (1.4, 240, 122, 84), (2.2, 400, 122, 84), (3.8, 400, 122, 84),
                                        (4.6, 234, 126, 82), (6.0, 238, 122, 82))),
    )),
    "scale": Scenario(4.0, (
        Appearance("astronaut", 0.0, 4.0, ((0.0, 160, 120, 45), (2.0, 162, 124, 140), (4.0, 158, 118, 45))),
    )),
}


def load_portraits() -> dict[str, np.ndarray]:
    """The two source photos as RGB float32 arrays."""
    import matplotlib.image as mpimg
    import skimage.data
    from matplotlib import cbook

    astronaut = skimage.data.astronaut()[..., :3]
    hopper = mpimg.imread(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))[..., :3]
    return {"astronaut": np.ascontiguousarray(astronaut, np.float32), "hopper": np.ascontiguousarray(hopper, np.float32)}


def alpha_mask(name: str, image: np.ndarray) -> np.ndarray:
    """Feathered crop around the face (source coordinates)."""
    fx, fy, fw, fh = SOURCE_FACES[name]
    side, above, below = CROP
    cx = fx + fw / 2
    x0, x1 = max(0.0, cx - side * fw), min(image.shape[1], cx + side * fw)
    y0, y1 = max(0.0, fy - above * fh), min(image.shape[0], fy + fh + below * fh)
    xs, ys = np.arange(image.shape[1], dtype=np.float32) + 0.5, np.arange(image.shape[0], dtype=np.float32) + 0.5

    def ramp(v: np.ndarray, lo: float, hi: float, width: float) -> np.ndarray:
        a = np.clip((v - lo) / width, 0, 1) * np.clip((hi - v) / width, 0, 1)
        return a * a * (3 - 2 * a)

    return np.outer(ramp(ys, y0, y1, FEATHER * (y1 - y0)), ramp(xs, x0, x1, FEATHER * (x1 - x0))).astype(np.float32)


def ease(u: float) -> float:
    return 0.5 - 0.5 * math.cos(math.pi * min(max(u, 0.0), 1.0))


def pose(keys: tuple[Key, ...], t: float) -> tuple[float, float, float]:
    if t <= keys[0][0]:
        return keys[0][1:]
    for (t0, *a), (t1, *b) in itertools.pairwise(keys):
        if t <= t1:
            u = ease((t - t0) / (t1 - t0))
            return tuple(x + (y - x) * u for x, y in zip(a, b, strict=True))  # type: ignore[return-value]
    return keys[-1][1:]


def background() -> np.ndarray:
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    u = (0.65 * yy / HEIGHT + 0.35 * xx / WIDTH)[..., None]
    return np.array([38, 44, 58], np.float32) * (1 - u) + np.array([70, 96, 104], np.float32) * u


def render(
    scenario: Scenario, portraits: dict[str, np.ndarray], alphas: dict[str, np.ndarray], bg: np.ndarray, t: float
) -> tuple[np.ndarray, list[dict], list[dict]]:
    frame = bg.copy()
    drawn: list[tuple[str, tuple[float, float, float, float], np.ndarray]] = []  # person, unclipped face box, coverage mask
    for app in scenario.appearances:
        if not app.start <= t < app.end:
            continue
        cx, cy, height = pose(app.keys, t)
        fx, fy, fw, fh = SOURCE_FACES[app.person]
        s = height / fh
        m = np.array([[s, 0, cx - s * (fx + fw / 2)], [0, s, cy - s * (fy + fh / 2)]])
        flags = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
        img = cv2.warpAffine(portraits[app.person], m, (WIDTH, HEIGHT), flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        a = cv2.warpAffine(alphas[app.person], m, (WIDTH, HEIGHT), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        frame = frame * (1 - a[..., None]) + img * a[..., None]
        drawn = [(p, box, cover | (a > 0.5)) for p, box, cover in drawn]  # this layer hides those behind it
        box = (m[0, 0] * fx + m[0, 2], m[1, 1] * fy + m[1, 2], s * fw, s * fh)
        drawn.append((app.person, box, np.zeros((HEIGHT, WIDTH), bool)))
    if scenario.pillar is not None:
        x0, x1 = scenario.pillar
        frame[:, x0:x1] = np.array([96, 88, 80], np.float32)
        drawn = [(p, box, cover | _columns(x0, x1)) for p, box, cover in drawn]
    faces, partial = [], []
    for person, (x, y, w, h), cover in drawn:
        area = w * h
        x0, y0, x1, y1 = max(0, round(x)), max(0, round(y)), min(WIDTH, round(x + w)), min(HEIGHT, round(y + h))
        inside = cover[y0:y1, x0:x1]
        visible = float((~inside).sum()) / area if x1 > x0 and y1 > y0 else 0.0
        box = [round(max(x, 0), 1), round(max(y, 0), 1), round(min(x + w, WIDTH) - max(x, 0), 1), round(min(y + h, HEIGHT) - max(y, 0), 1)]
        if visible >= 0.5:
            faces.append({"id": person, "box": box, "visible": round(min(visible, 1.0), 3)})
        elif visible > 0.0 and box[2] > 0 and box[3] > 0:
            partial.append({"id": person, "box": box, "visible": round(visible, 3)})
    return np.clip(frame + 0.5, 0, 255).astype(np.uint8), faces, partial


def _columns(x0: int, x1: int) -> np.ndarray:
    mask = np.zeros((HEIGHT, WIDTH), bool)
    mask[:, x0:x1] = True
    return mask


def generate(name: str, scenario: Scenario, out_dir: Path) -> Path:
    portraits = load_portraits()
    alphas = {p: alpha_mask(p, img) for p, img in portraits.items()}
    bg = background()
    frames = round(scenario.seconds * FPS)
    out = out_dir / f"{name}.mp4"
    out_dir.mkdir(parents=True, exist_ok=True)
    truth, partials = [], []
    with av.open(str(out), mode="w", format="mp4") as container:
        container.metadata["comment"] = "Generated by scripts/make_tracking_clips.py from public-domain portraits; see NOTICE.md"
        stream = container.add_stream("libx264", rate=FPS, options={"crf": "24", "preset": "slow", "threads": "1"})
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.codec_context.thread_count = 1
        for i in range(frames):
            rgb, faces, partial = render(scenario, portraits, alphas, bg, i / FPS)
            truth.append(faces)
            partials.append(partial)
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    sidecar = {
        "fps": FPS, "frames": frames, "width": WIDTH, "height": HEIGHT, "duration_s": frames / FPS,
        "identities": sorted({a.person for a in scenario.appearances}),
        "box_format": "[x, y, w, h] in pixels, clipped to the frame; a face is listed when >= 50% of its box is visible",
        "generator": "scripts/make_tracking_clips.py", "scenario": name, "faces": truth,
        "partial_note": "partial[i]: faces less than half visible in frame i (cut or hidden); scoring ignores what is found there",
        "partial": partials,
    }
    out.with_suffix(".json").write_text(json.dumps(sidecar, separators=(",", ":")) + "\n")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: tests/data/tracking)")
    parser.add_argument("names", nargs="*", default=list(SCENARIOS), help="scenarios to write (default: all)")
    args = parser.parse_args(argv)
    for name in args.names:
        out = generate(name, SCENARIOS[name], args.out)
        print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
