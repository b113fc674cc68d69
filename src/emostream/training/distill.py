"""Knowledge distillation: a teacher's soft targets, mixed into the training labels.

The teacher (a model folder, a packaged model name, a Keras file, or several
of them averaged as an ensemble) is run once over the un-augmented training
faces through the classifier runtime, exactly as it is served (its card's
preprocessing and TTA). Its probabilities are saved as ``teacher.npz`` in the
run folder, so a resumed run does not pay for them again, and a file of soft
targets made elsewhere (say by a large model on a GPU machine) can be given
as the teacher instead.

Details at :func:`teacher_targets`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

TARGETS_FILE = "teacher.npz"


def soften(probs: np.ndarray, temperature: float) -> np.ndarray:
    """``probs ** (1/T)`` renormalised: the softmax of the logits divided by T, from probabilities."""
    if temperature <= 0:
        raise ValueError(f"--teacher-temperature must be positive, got {temperature}")
    if temperature == 1.0:
        return np.asarray(probs, dtype=np.float32)
    logp = np.log(np.clip(probs, 1e-12, 1.0)) / temperature
    logp -= logp.max(axis=1, keepdims=True)
    out = np.exp(logp)
    return np.asarray(out / out.sum(axis=1, keepdims=True), dtype=np.float32)


def predict_teacher(teacher: str, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """One teacher's probabilities for uint8 faces, as the classifier would serve it, without its calibrated priors.

    A bare ``.keras`` file from ``emostream train`` runs in Keras directly, on
    whatever backend is active, with train's preprocessing and the mean over
    the face and its mirror: that works on a GPU machine with JAX and no
    TensorFlow. A model folder or packaged name runs through the classifier
    runtime, card and TTA included.
    """
    if Path(teacher).suffix == ".keras" and Path(teacher).is_file():
        return _predict_keras(Path(teacher), images, batch_size)
    from emostream.classifier.runtime import load_runtime
    from emostream.training.evaluate import card_for, fit_to_card, predict

    card = replace(card_for(teacher), prior_tau=0.0)  # the teacher's own probabilities: a student learns no served priors
    fmt = "tflite" if "tflite" in card.files else "keras"
    runtime = load_runtime(card, fmt, batch_max=batch_size)
    try:
        return predict(runtime, fit_to_card(images, card), tta=card.tta == "flip")
    finally:
        runtime.close()


def _predict_keras(path: Path, images: np.ndarray, batch_size: int) -> np.ndarray:
    import keras

    from emostream.training.batches import normalise

    model = keras.models.load_model(path, compile=False)
    size = int(model.input_shape[1])
    if images.shape[1] != size:
        from emostream.training.data import resize_images

        images = resize_images(images, size)
    x = np.asarray(normalise(images.astype(np.float32)), dtype=np.float32)
    probs = model.predict(x, batch_size=batch_size, verbose=0) + model.predict(x[:, :, ::-1], batch_size=batch_size, verbose=0)
    return np.asarray(probs / 2.0, dtype=np.float32)


def teacher_targets(teachers: Sequence[str], images: np.ndarray, folder: Path) -> np.ndarray:
    """The mean probabilities of ``teachers`` on ``images``, cached in ``folder/teacher.npz``.

    A single teacher ending in ``.npz`` is read as ready-made targets (key
    ``targets``, one row per training face in the order train uses).

    Trade-off: targets for un-augmented faces are reused for every augmented view
    of that face. Running the teacher on every augmented batch would match the
    views exactly but would cost the teacher's forward pass at every step, which
    on a CPU is more than the student's whole step. Small shifts and flips do
    not change a face's expression, so the fixed targets lose little.
    """
    if len(teachers) == 1 and teachers[0].endswith(".npz"):
        path = Path(teachers[0])
    else:
        path = Path(folder) / TARGETS_FILE
        if not _cached(path, teachers, len(images)):
            log.info("computing soft targets of %d teacher(s) on %d faces", len(teachers), len(images))
            probs = np.mean([predict_teacher(t, images) for t in teachers], axis=0)
            np.savez_compressed(path, targets=probs.astype(np.float32), teachers=np.array(list(teachers)))
    with np.load(path, allow_pickle=False) as npz:
        targets = np.asarray(npz["targets"], dtype=np.float32)
    if targets.shape != (len(images), 7):
        raise ValueError(f"{path}: soft targets of shape {targets.shape}, but training has {len(images)} faces")
    return targets


def _cached(path: Path, teachers: Sequence[str], rows: int) -> bool:
    if not path.is_file():
        return False
    with np.load(path, allow_pickle=False) as npz:
        return list(npz["teachers"]) == list(teachers) and len(npz["targets"]) == rows


def mix_targets(labels: np.ndarray, teacher: np.ndarray, weight: float, temperature: float) -> np.ndarray:
    """``(1 - weight) * labels + weight * soften(teacher, T)``: still a distribution per row."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"--teacher-weight must lie in 0..1, got {weight}")
    return np.asarray((1.0 - weight) * labels + weight * soften(teacher, temperature), dtype=np.float32)
