"""Model folders and their cards (DESIGN.md, Models).

Details at :class:`ModelCard`.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from emostream.infra.emotions import EMOTIONS

CARD_FILE = "model.json"
Color = Literal["gray", "rgb", "bgr"]
FORMATS = ("keras", "tflite")


class ModelCardError(ValueError):
    """A model folder is missing, incomplete or inconsistent."""


@dataclass(frozen=True)
class ModelCard:
    """A model is a folder holding the weights and ``model.json``::

        {
          "name": "emostream-compact", "version": "1.0.0",
          "classes": ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"],
          "input": {"width": 48, "height": 48, "color": "gray"},
          "preprocessing": {"scale": 0.00392156862745098, "offset": 0.0},
          "files": {"keras": "model.keras", "tflite": "model.tflite"},
          "sha256": {"model.keras": "...", "model.tflite": "..."},
          "tta": "flip", "prior": [0.09, 0.01, 0.03, 0.27, 0.14, 0.12, 0.34], "prior_tau": 0.2,
          "training": {...}, "metrics": {...}, "license": "...", "source": "..."
        }

    The classifier feeds ``pixels * scale + offset`` (float32, shape (N, H, W, C))
    to the model; ingest crops faces to ``input`` size and colour. Both read these
    numbers from the card, never from constants.

    ``prior`` (the class shares of the training labels, in ``classes`` order,
    summing to 1) and ``prior_tau`` (>= 0, 0 = off) are calibrated priors: the
    runtime divides each probability by ``prior ** prior_tau`` and renormalises
    (logit adjustment, :mod:`emostream.classifier.priors`).
    """
    folder: Path
    name: str
    version: str
    classes: tuple[str, ...]
    width: int
    height: int
    color: Color
    scale: float
    offset: float
    files: dict[str, str]
    sha256: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    # Test-time augmentation the classifier applies: "flip" averages the probabilities
    # of each crop and its mirror image (two forward passes); "" for none.
    tta: str = ""
    prior: tuple[float, ...] | None = None
    prior_tau: float = 0.0

    @property
    def channels(self) -> int:
        return 1 if self.color == "gray" else 3

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(height, width, channels) of one crop."""
        return (self.height, self.width, self.channels)

    def path(self, fmt: str) -> Path:
        if fmt not in self.files:
            raise ModelCardError(f"{self.folder}: model card lists no {fmt!r} file (has {sorted(self.files)})")
        file = self.folder / self.files[fmt]
        if not file.is_file():
            raise ModelCardError(f"{self.folder}: model file {file.name} is missing")
        return file

    def verify(self, fmt: str) -> Path:
        """The weights file for ``fmt``, after checking its sha256 against the card."""
        file = self.path(fmt)
        expected = self.sha256.get(file.name)
        if expected and sha256_of(file) != expected:
            raise ModelCardError(f"{file}: sha256 does not match the model card")
        return file

    @property
    def label(self) -> str:
        return f"{self.name}:{self.version}"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


TTA_MODES = ("", "flip")
# The card's keys ModelCard reads into fields; the rest stays in ``extra``.
SERVED_KEYS = frozenset({"name", "version", "classes", "input", "preprocessing", "files", "sha256", "tta", "prior", "prior_tau"})

# The packaged model the classifier serves when the configuration names none.
DEFAULT_MODEL = "fast"


def packaged_models_dir() -> Path:
    return Path(str(resources.files("emostream") / "assets" / "models"))


def resolve_model(ref: str | Path | None = None) -> Path:
    """A model folder from a path, or from the name of a model shipped in the package."""
    ref = ref or DEFAULT_MODEL
    path = Path(ref)
    if path.is_dir():
        return path
    packaged = packaged_models_dir() / str(ref)
    if packaged.is_dir() and (packaged / CARD_FILE).is_file():
        return packaged
    shipped = sorted(p.name for p in packaged_models_dir().iterdir() if (p / CARD_FILE).is_file())
    raise ModelCardError(f"model {str(ref)!r} is neither a folder nor a packaged model (packaged: {shipped})")


PRIOR_SUM_TOLERANCE = 1e-3


def check_prior(prior: tuple[float, ...] | None, tau: float) -> None:
    """Refuse a prior that is not 7 finite shares above 0 summing to 1, or a tau that is negative, not finite, or without a prior."""
    if not math.isfinite(tau) or tau < 0:
        raise ModelCardError(f"prior_tau must be a finite number >= 0, got {tau!r}")
    if prior is None:
        if tau > 0:
            raise ModelCardError(f"prior_tau {tau:g} needs a prior: the card has none")
        return
    if len(prior) != len(EMOTIONS):
        raise ModelCardError(f"prior must hold {len(EMOTIONS)} class shares in the order {list(EMOTIONS)}, got {len(prior)}")
    if not all(math.isfinite(p) and p > 0 for p in prior):
        raise ModelCardError(f"prior shares must be finite and above 0 (log prior is added to the logits), got {list(prior)}")
    if abs(sum(prior) - 1.0) > PRIOR_SUM_TOLERANCE:
        raise ModelCardError(f"prior shares must sum to 1, got {sum(prior):.6f}")


def with_prior_tau(card: ModelCard, tau: float | None) -> ModelCard:
    """``card`` with its ``prior_tau`` replaced by ``tau`` (the configuration's ``classifier.prior_tau``); None keeps the card's."""
    if tau is None or tau == card.prior_tau:
        return card
    try:
        check_prior(card.prior, tau)
    except ModelCardError as exc:
        raise ModelCardError(f"classifier.prior_tau for model {card.label}: {exc}") from None
    return replace(card, prior_tau=float(tau))


def load_card(ref: str | Path | None = None) -> ModelCard:
    """Read the card of a model folder, or of a packaged model named ``ref``."""
    folder = resolve_model(ref)
    card_path = folder / CARD_FILE
    if not card_path.is_file():
        raise ModelCardError(f"{folder}: no {CARD_FILE}; a model folder needs a model card")
    try:
        raw = json.loads(card_path.read_text())
        classes = tuple(raw["classes"])
        inp, pre = raw["input"], raw["preprocessing"]
        card = ModelCard(
            folder=folder,
            name=str(raw["name"]),
            version=str(raw["version"]),
            classes=classes,
            width=int(inp["width"]),
            height=int(inp["height"]),
            color=inp["color"],
            scale=float(pre["scale"]),
            offset=float(pre["offset"]),
            files=dict(raw["files"]),
            sha256=dict(raw.get("sha256", {})),
            extra={k: v for k, v in raw.items() if k not in SERVED_KEYS},
            tta=str(raw.get("tta") or ""),
            prior=None if raw.get("prior") is None else tuple(float(p) for p in raw["prior"]),
            prior_tau=float(raw.get("prior_tau") or 0.0),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelCardError(f"{card_path}: malformed model card ({exc!r})") from None
    if classes != EMOTIONS:
        raise ModelCardError(f"{card_path}: classes must be {list(EMOTIONS)} in that order, got {list(classes)}")
    if card.tta not in TTA_MODES:
        raise ModelCardError(f"{card_path}: tta must be one of {list(TTA_MODES)}, got {card.tta!r}")
    try:
        check_prior(card.prior, card.prior_tau)
    except ModelCardError as exc:
        raise ModelCardError(f"{card_path}: {exc}") from None
    if card.color not in ("gray", "rgb", "bgr"):
        raise ModelCardError(f"{card_path}: input color must be gray, rgb or bgr, got {card.color!r}")
    if not card.files or set(card.files) - set(FORMATS):
        raise ModelCardError(f"{card_path}: files must name formats among {FORMATS}")
    return card


def write_card(folder: Path, body: dict[str, Any]) -> Path:
    """Write ``model.json``, filling in the sha256 of every listed file."""
    folder = Path(folder)
    body = dict(body)
    body["sha256"] = {name: sha256_of(folder / name) for name in body["files"].values()}
    path = folder / CARD_FILE
    path.write_text(json.dumps(body, indent=2) + "\n")
    return path
