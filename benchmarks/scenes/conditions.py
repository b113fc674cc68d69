"""The conditions of the scene benchmark: what each clip varies, in one table.

Each :class:`Condition` becomes one short clip per split. ``script`` says how
people move: ``drift`` (everyone stays, moving a little), ``leave_return`` (one
person leaves for 1.5 s and comes back), ``swap`` (a different person takes the
same place every second, as in issue #23's gray swap), ``crossing`` (two faces
move through each other, the second in front). With ``turnover_s`` every place
changes person that often, so a clip shows more faces (agreement needs many);
the roll sweep shares one ``seed``: the same people in the same places, only
the roll differs. Faceless clips are listed in
:data:`FACELESS`: (name, generator, width, height, seconds) at :data:`FACELESS_FPS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

FPS = 15
FACELESS_FPS = 10
CRF = 20  # H.264 quality of every clip but the compression condition


@dataclass(frozen=True)
class Condition:
    name: str
    width: int = 640
    height: int = 480
    people: int = 3
    sizes: tuple[int, int] = (64, 128)  # face side in px, drawn uniformly
    rolls: tuple[float, ...] = (0.0,)  # each face gets one of these (sign drawn at random)
    seconds: float = 3.0
    script: str = "drift"
    gray: bool = False
    blur: float = 0.0  # Gaussian sigma in px
    jpeg: int = 0  # JPEG quality each frame goes through before encoding (0: none)
    crf: int = CRF
    brightness: float = 0.0  # added to every pixel (0..255 scale)
    contrast: float = 1.0  # around mid-gray
    turnover_s: float = 0.0  # every place gets a new person this often (hard cut; 0: never), for more faces per clip
    seed: str = ""  # name whose randomness the clip uses (default: its own): conditions sharing it differ only in what they set

    @property
    def seed_name(self) -> str:
        return self.seed or self.name

    @property
    def frames(self) -> int:
        return round(self.seconds * FPS)




def _roll(degrees: float) -> Condition:
    """The roll sweep: the same people in the same places (one seed), rolled by ±``degrees``."""
    return Condition(f"roll_{degrees:g}", people=4, sizes=(80, 120), rolls=(degrees,), seconds=6.0, turnover_s=1.0, seed="roll_sweep")


def _varied(name: str, **change: Any) -> Condition:
    """Four places of 48-128 px faces, a new person in each every second, with one thing changed."""
    return Condition(name, people=4, sizes=(48, 128), seconds=4.0, turnover_s=1.0, **change)


CONDITIONS: tuple[Condition, ...] = (
    Condition("small_640", people=8, sizes=(24, 64)),
    Condition("medium_640", people=4, sizes=(64, 128), seconds=4.0, turnover_s=1.0),
    Condition("large_640", people=1, sizes=(128, 300), seconds=4.0, turnover_s=1.0),
    Condition("small_720", width=1280, height=720, people=8, sizes=(24, 64)),
    Condition("mixed_720", width=1280, height=720, people=6, sizes=(32, 300), rolls=(0.0, 15.0, 30.0)),
    _roll(0.0),
    _roll(15.0),
    _roll(30.0),
    _varied("blur", blur=2.0),
    _varied("jpeg_q15", jpeg=15),
    _varied("crf_38", crf=38),
    _varied("dark", brightness=-70.0, contrast=0.55),
    _varied("bright", brightness=45.0, contrast=1.3),
    _varied("gray", gray=True),
    Condition("swap_colour", people=2, sizes=(100, 140), seconds=6.0, script="swap"),
    Condition("swap_gray", people=2, sizes=(100, 140), seconds=6.0, script="swap", gray=True),
    Condition("leave_return", people=2, sizes=(80, 130), seconds=5.0, script="leave_return"),
    Condition("leave_return_gray", people=2, sizes=(80, 130), seconds=5.0, script="leave_return", gray=True),
    Condition("crossing", people=2, sizes=(90, 110), seconds=4.0, script="crossing"),
    Condition("crossing_gray", people=2, sizes=(90, 110), seconds=4.0, script="crossing", gray=True),
)

#: Faceless clips: (name, kind, width, height, seconds). 600 s in all per split.
FACELESS: tuple[tuple[str, str, int, int, float], ...] = (
    ("faceless_text", "text", 1280, 720, 100.0),
    ("faceless_clouds", "clouds", 640, 480, 100.0),
    ("faceless_patterns", "patterns", 640, 480, 100.0),
    ("faceless_textures", "textures", 640, 480, 100.0),
    ("faceless_bars", "bars", 640, 480, 100.0),
    ("faceless_pictures", "pictures", 640, 480, 100.0),
)


def by_name(name: str) -> Condition:
    for condition in CONDITIONS:
        if condition.name == name:
            return condition
    raise KeyError(f"no condition {name!r}; choose from {[c.name for c in CONDITIONS]}")
