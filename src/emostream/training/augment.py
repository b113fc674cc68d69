"""Data augmentation as Keras preprocessing layers, applied in the input pipeline.

Kept out of the model itself so that exported models hold only inference layers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported in build_augmenter: the CLI must start without TensorFlow.
    import keras


@dataclass(frozen=True)
class AugmentSpec:
    flip: bool = True
    rotation_deg: float = 10.0
    shift: float = 0.1
    zoom: float = 0.1
    contrast: float = 0.2

    @property
    def enabled(self) -> bool:
        return self.flip or any((self.rotation_deg, self.shift, self.zoom, self.contrast))


def build_augmenter(spec: AugmentSpec, seed: int) -> keras.Sequential:
    import keras
    from keras import layers

    steps: list[layers.Layer] = []
    if spec.flip:
        steps.append(layers.RandomFlip("horizontal", seed=seed))
    if spec.rotation_deg:
        steps.append(layers.RandomRotation(spec.rotation_deg / 360.0, fill_mode="nearest", seed=seed + 1))
    if spec.shift:
        steps.append(layers.RandomTranslation(spec.shift, spec.shift, fill_mode="nearest", seed=seed + 2))
    if spec.zoom:
        steps.append(layers.RandomZoom((-spec.zoom, spec.zoom), fill_mode="nearest", seed=seed + 3))
    if spec.contrast:
        steps.append(layers.RandomContrast(spec.contrast, value_range=(0.0, 1.0), seed=seed + 4))
    return keras.Sequential(steps, name="augment")
