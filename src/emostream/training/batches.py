"""Training and validation batches as a ``keras.utils.PyDataset``, for every Keras backend.

A PyDataset (not ``tf.data``) because ``emostream train`` must also run under
Keras 3's JAX backend on machines without TensorFlow. Shuffling and
augmentation draw from ``numpy.random.default_rng([seed, epoch, batch])``:
a run resumed at epoch k sees the same batches as an uninterrupted one, and
no state needs saving beyond the epoch number.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from emostream.training.augment import AugmentSpec, augment_batch
from emostream.training.data import Dataset


def normalise(images: Any) -> Any:
    """uint8 pixels to the model's input range; recorded in the model card as scale 1/255."""
    return images / 255.0


def make_batches(
    ds: Dataset,
    batch_size: int,
    *,
    training: bool,
    seed: int = 0,
    first_epoch: int = 0,
    augment: AugmentSpec | None = None,
    weights: np.ndarray | None = None,
    steps: int = 0,
) -> Any:
    """A PyDataset of (images, labels[, sample weights]) batches of ``ds``.

    Training batches are shuffled each epoch and augmented with ``augment``;
    ``weights`` (one per sample) come along as Keras sample weights.
    Validation batches keep the data's order and are never augmented.
    ``steps`` > 0 makes an epoch that many batches of a fresh permutation
    instead of the whole set: shorter epochs, so a run on a busy CPU
    checkpoints (and can resume) more often.
    """
    import keras

    class Batches(keras.utils.PyDataset):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(workers=1, use_multiprocessing=False)
            self.epoch = first_epoch
            self.order = self._order()

        def _order(self) -> np.ndarray:
            if not training:
                return np.arange(len(ds))
            return np.random.default_rng([seed, self.epoch]).permutation(len(ds))

        def __len__(self) -> int:
            full = math.ceil(len(ds) / batch_size)
            return min(steps, full) if steps > 0 and training else full

        def __getitem__(self, index: int) -> tuple[np.ndarray, ...]:
            rows = self.order[index * batch_size : (index + 1) * batch_size]
            images = np.asarray(normalise(ds.images[rows].astype(np.float32)), dtype=np.float32)
            labels = ds.labels[rows]
            if training and augment is not None and augment.enabled:
                rng = np.random.default_rng([seed, self.epoch, index])
                images, labels = augment_batch(images, labels, rng, augment)
            if weights is not None and training:
                return images, labels, weights[rows].astype(np.float32)
            return images, labels

        def on_epoch_end(self) -> None:
            self.epoch += 1
            self.order = self._order()

    return Batches()
