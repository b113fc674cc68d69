"""Model builders: a compact CNN for real time, a deeper VGG-style CNN, transfer learning.

Every builder returns an uncompiled ``keras.Model`` that maps a batch of
normalised images (float32, shape (N, H, W, C)) to softmax probabilities over
the seven emotions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from emostream.infra.emotions import EMOTIONS

if TYPE_CHECKING:  # Keras is imported where a model is built: the CLI must start without TensorFlow.
    import keras

TRANSFER_BACKBONES = ("vgg16", "vgg19", "resnet50v2", "inceptionv3", "xception")


@dataclass(frozen=True)
class ModelSpec:
    """What a builder needs; the defaults are those of the shipped model."""

    input_size: int = 48
    channels: int = 1
    l2: float = 1e-4
    dropout: float = 0.5
    dense: tuple[int, ...] = (256,)
    unfreeze: int = 0
    weights: str | None = "imagenet"


def _conv(x: keras.KerasTensor, filters: int, spec: ModelSpec, strides: int = 1) -> keras.KerasTensor:
    from keras import layers, regularizers

    x = layers.Conv2D(
        filters,
        3,
        strides=strides,
        padding="same",
        use_bias=False,
        kernel_initializer="he_normal",
        kernel_regularizer=regularizers.l2(spec.l2) if spec.l2 else None,
    )(x)
    x = layers.BatchNormalization()(x)
    return layers.ReLU()(x)


def _head(x: keras.KerasTensor, spec: ModelSpec) -> keras.KerasTensor:
    from keras import layers, regularizers

    for units in spec.dense:
        x = layers.Dense(
            units,
            use_bias=False,
            kernel_initializer="he_normal",
            kernel_regularizer=regularizers.l2(spec.l2) if spec.l2 else None,
        )(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
        x = layers.Dropout(spec.dropout)(x)
    return layers.Dense(len(EMOTIONS), activation="softmax", name="emotion")(x)


def _strided_cnn(
    spec: ModelSpec, name: str, stem: tuple[int, ...], blocks: tuple[int, ...], first: int = 32
) -> keras.Model:
    """A stride-2 stem of ``first`` filters, ``stem`` convolutions at half size, a pooling, then two
    convolutions and a pooling per entry of ``blocks``; the flattened map feeds the head.

    Flattening (not global pooling) keeps where on the face a feature fired.
    """
    import keras
    from keras import layers

    inputs = keras.Input((spec.input_size, spec.input_size, spec.channels), name="face")
    x = _conv(inputs, first, spec, strides=2)
    for filters in stem:
        x = _conv(x, filters, spec)
    x = layers.MaxPooling2D()(x)
    for filters in blocks:
        x = _conv(x, filters, spec)
        x = _conv(x, filters, spec)
        x = layers.MaxPooling2D()(x)
    return keras.Model(inputs, _head(layers.Flatten()(x), spec), name=name)


def build_compact(spec: ModelSpec) -> keras.Model:
    """About 16 M multiply-adds per 48x48 face, for real time on small CPUs (thousands of faces/s).

    The stem and an early pooling bring the face to 12x12 before any wide
    layer; then 2x64 and 2x128 filters.
    """
    return _strided_cnn(spec, "compact", stem=(), blocks=(64, 128))


def build_fast(spec: ModelSpec) -> keras.Model:
    """About 20 M multiply-adds per 48x48 face (40 M with flip TTA): the CPU default.

    Like ``compact`` but with one 32-filter convolution at 24x24 before the
    first pooling (24 stem filters pay for it): the fine detail of eyes and
    mouth corners is seen at twice the resolution. Chosen by measuring
    candidates as float32 TFLite with XNNPACK on a 2-core AVX2 CPU: about
    1,400 faces/s with flip TTA at batch 64 (docs/MODEL.md).
    """
    return _strided_cnn(spec, "fast", stem=(32,), blocks=(64, 128), first=24)


def build_standard(spec: ModelSpec) -> keras.Model:
    """About 75 M multiply-adds per 48x48 face: 64 filters at 24x24, then 2x128 and 2x256.

    Several times the compact model's arithmetic for more accuracy; about a
    thousand faces a second on two quiet CPU cores.
    """
    return _strided_cnn(spec, "standard", stem=(64,), blocks=(128, 256))


def build_vgg(spec: ModelSpec) -> keras.Model:
    """A deeper VGG-style network: 2x64, 2x128, 3x256, 3x512 filters; several times slower."""
    import keras
    from keras import layers

    inputs = keras.Input((spec.input_size, spec.input_size, spec.channels), name="face")
    x = inputs
    for filters, repeats in ((64, 2), (128, 2), (256, 3), (512, 3)):
        for _ in range(repeats):
            x = _conv(x, filters, spec)
        x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    return keras.Model(inputs, _head(x, spec), name="vgg")


def _application(name: str) -> Callable[..., keras.Model]:
    import keras

    apps = keras.applications
    builders: dict[str, Callable[..., keras.Model]] = {
        "vgg16": apps.VGG16,
        "vgg19": apps.VGG19,
        "resnet50v2": apps.ResNet50V2,
        "inceptionv3": apps.InceptionV3,
        "xception": apps.Xception,
    }
    return builders[name]


def build_transfer(name: str, spec: ModelSpec) -> keras.Model:
    """An ImageNet backbone with our dense head; its top ``spec.unfreeze`` layers train.

    ``spec.weights`` is ``"imagenet"`` (downloaded by Keras when reachable), a path
    to a local weights file, or None for random initialisation. Grayscale faces
    are repeated to three channels, as the backbones expect colour input.
    """
    import keras
    from keras import layers

    if name not in TRANSFER_BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; choose from {TRANSFER_BACKBONES}")
    inputs = keras.Input((spec.input_size, spec.input_size, spec.channels), name="face")
    x = inputs if spec.channels == 3 else layers.Concatenate()([inputs, inputs, inputs])
    backbone = _application(name)(
        include_top=False, weights=spec.weights, input_shape=(spec.input_size, spec.input_size, 3)
    )
    backbone.trainable = spec.unfreeze > 0
    if spec.unfreeze > 0:
        for layer in backbone.layers[: -spec.unfreeze]:
            layer.trainable = False
    x = backbone(x, training=False)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, _head(x, spec), name=f"transfer_{name}")


ARCHITECTURES = ("fast", "compact", "standard", "vgg", *TRANSFER_BACKBONES)


def build_model(architecture: str, spec: ModelSpec) -> keras.Model:
    if architecture == "fast":
        return build_fast(spec)
    if architecture == "compact":
        return build_compact(spec)
    if architecture == "standard":
        return build_standard(spec)
    if architecture == "vgg":
        return build_vgg(spec)
    return build_transfer(architecture, spec)
