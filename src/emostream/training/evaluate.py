"""Scoring a model on labelled faces as the classifier serves it: the engine of ``emostream evaluate`` (:mod:`evalcli`).

Bare Keras files and model folders alike run through the classifier's own
runtime, so the numbers describe what the service will do.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from emostream.infra.emotions import EMOTIONS
from emostream.infra.modelcard import ModelCard, load_card, sha256_of
from emostream.training.data import Dataset, load_image_folder
from emostream.training.metrics import classification_report
from emostream.training.table import is_npz, labelled, load_table

log = logging.getLogger(__name__)

EVAL_LABELS = ("fer2013", "ferplus-majority")
# batches.normalise: what a bare .keras file from ``emostream train`` expects.
TRAIN_SCALE, TRAIN_OFFSET = 1.0 / 255.0, 0.0
KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")


def bare_card(path: Path, input_shape: tuple[int, ...], scale: float | None = None, offset: float | None = None) -> ModelCard:
    """A stand-in card for a Keras file that has none.

    Input size and colour come from the model's input layer, preprocessing from
    ``scale``/``offset`` (default: ``emostream train``'s ``pixels / 255``).
    """
    height, width, channels = (int(v) for v in input_shape[-3:])
    if channels not in (1, 3):
        raise ValueError(f"{path}: input has {channels} channels; expected 1 (gray) or 3 (rgb)")
    return ModelCard(
        folder=path.parent,
        name=path.stem,
        version="unversioned",
        classes=EMOTIONS,
        width=width,
        height=height,
        color="gray" if channels == 1 else "rgb",
        scale=TRAIN_SCALE if scale is None else scale,
        offset=TRAIN_OFFSET if offset is None else offset,
        files={"keras": path.name},
    )


def card_for(model: str | Path, scale: float | None = None, offset: float | None = None) -> ModelCard:
    """The card of a model folder or packaged model, or a stand-in for a bare Keras file.

    A folder's card is authoritative: overriding its preprocessing would score
    a different model than the one that gets served, so that is refused.
    """
    path = Path(model)
    if path.is_file():
        if path.suffix.lower() not in KERAS_SUFFIXES:
            raise ValueError(f"{path}: expected a Keras file ({', '.join(KERAS_SUFFIXES)}) or a model folder")
        import keras

        return bare_card(path, keras.models.load_model(path, compile=False).input_shape, scale, offset)
    if scale is not None or offset is not None:
        raise ValueError("--scale/--offset apply to bare Keras files only; a model folder's card sets them")
    return load_card(model)


def fit_to_card(images: np.ndarray, card: ModelCard) -> np.ndarray:
    """uint8 crops (N, h, w, 1|3) resized and coloured as the card's input wants."""
    import cv2

    height, width, channels = card.input_shape
    if images.shape[1:3] != (height, width):
        resized = [cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR) for image in images]
        images = np.stack(resized).reshape(len(images), height, width, -1)
    if images.shape[3] == 1 and channels == 3:
        images = np.repeat(images, 3, axis=3)  # gray to rgb/bgr alike
    elif images.shape[3] == 3 and channels == 1:
        images = np.stack([cv2.cvtColor(i, cv2.COLOR_RGB2GRAY) for i in images])[..., None]
    return np.ascontiguousarray(images, dtype=np.uint8)


def predict(runtime: Any, images: np.ndarray, tta: bool) -> np.ndarray:
    """Class probabilities; with ``tta`` the mean over the image and its mirror image.

    Faces are roughly symmetric and training flips them, so the mirror is an
    equally valid view; averaging the two costs a second pass and usually buys
    a little accuracy. The service does the same when the model card says
    ``"tta": "flip"`` (``emostream export --tta flip``); the runtime then
    averages already and nothing is added here.
    """
    probs = runtime.predict(images)
    if tta and runtime.card.tta != "flip":
        probs = (probs + runtime.predict(np.ascontiguousarray(images[:, :, ::-1]))) / 2.0
    return np.asarray(probs, dtype=np.float32)


def evaluate(
    model_path: str | Path,
    dataset: Dataset,
    tta: bool = False,
    batch_size: int = 64,
    fmt: str = "keras",
    scale: float | None = None,
    offset: float | None = None,
) -> dict[str, Any]:
    """Score a model (Keras file, model folder or packaged model name) on ``dataset``.

    Returns the :func:`classification_report` dict plus what was evaluated and
    how fast. Labels are the argmax of the dataset's label rows.
    """
    return evaluate_views(model_path, [("", dataset)], len(dataset), tta, batch_size, fmt, scale, offset)[""]


def evaluate_views(
    model_path: str | Path,
    views: Iterable[tuple[str, Dataset]],
    size: int,
    tta: bool,
    batch_size: int,
    fmt: str,
    scale: float | None,
    offset: float | None,
) -> dict[str, dict[str, Any]]:
    """A report per (name, dataset) of ``views``, all of ``size`` faces, scored by one runtime (loaded once)."""
    from emostream.classifier.runtime import load_runtime

    if size == 0:
        raise ValueError("the dataset is empty")
    if fmt == "tflite" and Path(model_path).is_file():
        raise ValueError("--format tflite needs a model folder (see `emostream export`)")
    card = card_for(model_path, scale, offset)
    tta = tta or card.tta == "flip"
    runtime = load_runtime(card, fmt, batch_max=max(1, min(batch_size, size)))
    reports = {}
    try:
        for name, dataset in views:
            images = fit_to_card(dataset.images, card)
            started = time.monotonic()
            probs = predict(runtime, images, tta)
            seconds = time.monotonic() - started
            report = classification_report(dataset.hard_labels, np.argmax(probs, axis=1), card.classes)
            report.update(
                model=str(model_path),
                model_name=card.label,
                sha256=sha256_of(card.path(fmt)),
                format=fmt,
                tta=tta,
                input={"width": card.width, "height": card.height, "color": card.color},
                preprocessing={"scale": card.scale, "offset": card.offset},
                seconds=round(seconds, 3),
                images_per_second=round(len(dataset) * (2 if tta else 1) / seconds, 1) if seconds > 0 else None,
            )
            reports[name] = report
    finally:
        runtime.close()
    return reports


def load_eval_data(data: Path, usage: str = "PublicTest", labels: str = "fer2013", ferplus: Path | None = None) -> Dataset:
    """Labelled faces to score on, from a FER2013 CSV or an image folder.

    An image folder with ``train/`` and ``test/`` is read from ``test/``
    (``train/`` when ``usage`` is Training); a folder of class folders is read as is.
    """
    data = Path(data)
    if data.is_dir():
        split = data / ("train" if usage == "Training" else "test")
        return load_image_folder(split if split.is_dir() else data)
    if labels not in EVAL_LABELS:
        raise ValueError(f"unknown label source {labels!r}; choose from {EVAL_LABELS}")
    if labels != "fer2013" and ferplus is None and not is_npz(data):
        raise ValueError(f"--labels {labels} needs --ferplus PATH (fer2013new.csv) or a packed .npz with votes")
    # ferplus-majority applies the rule of ferplus.majority_mask: only faces with
    # a single largest vote that is one of our seven emotions are scored.
    return labelled(load_table(data, ferplus if labels != "fer2013" else None), usage, labels)
