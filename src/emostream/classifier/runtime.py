"""Run an emotion model on batches of face crops, in any exported format.

Inference uses a few fixed batch shapes ("buckets", powers of two up to
``batch_max``): a batch is padded up to the next bucket, so each shape is traced
or allocated once at start-up and no call ever retraces. The model is called
directly on the padded batch (a concrete ``tf.function`` or a ``jax.jit``
compilation per bucket, or one TFLite interpreter per bucket), never through
``model.predict``, whose per-call data-adapter set-up costs more than the
forward pass of a small batch.

Why powers of two: see :mod:`emostream.classifier.buckets`.

Details at :class:`Runtime`.
"""

from __future__ import annotations

import logging
import os
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import numpy as np

from emostream.classifier import backends
from emostream.classifier.buckets import GPU_SMALLEST_BUCKET, batch_buckets, bucket_for
from emostream.classifier.format_choice import resolve_format, serving_card
from emostream.classifier.keras_dtype import mixed_precision_copy, reduced_dtype, single_io, stored_in_float16, with_policy
from emostream.classifier.priors import adjust, prior_weights
from emostream.infra.modelcard import ModelCard

log = logging.getLogger(__name__)

def cpu_threads(threads: int = 0) -> int:
    """``threads``, or every core this process may run on (cgroup/affinity aware) when 0."""
    if threads:
        return threads
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class Runtime(ABC):
    """A loaded model that maps uint8 crops (N, H, W, C) to probabilities (N, 7).

    Crops arrive as uint8. The Keras runtime converts them to float inside the
    graph, so on a GPU a quarter of the bytes cross the bus; the TFLite runtime
    converts (or quantises) them in NumPy into the interpreter's own buffer.
    Whatever the format, :meth:`predict` applies the card's flip TTA, then its
    calibrated priors (:mod:`emostream.classifier.priors`), here and only here.
    """

    format = "?"

    def __init__(self, card: ModelCard, batch_max: int, smallest_bucket: int = 1) -> None:
        self.card = card
        self.buckets = batch_buckets(batch_max, smallest_bucket)
        self.device = "CPU"
        self.threads = 0
        # One reusable padded buffer per bucket: no allocation per batch.
        self._padded = {size: np.zeros((size, *card.input_shape), dtype=np.uint8) for size in self.buckets}
        self._prior_weights = prior_weights(card)  # None: the card applies no prior

    def preprocess(self, crops: np.ndarray) -> np.ndarray:
        """``pixels * scale + offset`` as float32, the card's preprocessing."""
        return crops.astype(np.float32) * np.float32(self.card.scale) + np.float32(self.card.offset)

    def predict(self, crops: np.ndarray) -> np.ndarray:
        """Probabilities for each uint8 crop, after TTA and priors; batches larger than ``batch_max`` are split."""
        if crops.dtype != np.uint8:
            raise TypeError(f"crops must be uint8 pixels, got {crops.dtype}")
        if crops.shape[1:] != self.card.input_shape:
            raise ValueError(f"crops have shape {crops.shape[1:]}, the model wants {self.card.input_shape}")
        out = []
        largest = self.buckets[-1]
        for start in range(0, len(crops), largest):
            chunk = crops[start : start + largest]
            size = bucket_for(len(chunk), self.buckets)
            padded = self._padded[size]
            padded[: len(chunk)] = chunk
            probs = self._run(padded)[: len(chunk)].copy()
            if self.card.tta == "flip":  # the card asks for the mirror image too: average both
                padded[: len(chunk)] = chunk[:, :, ::-1]
                probs = (probs + self._run(padded)[: len(chunk)]) / 2.0
            out.append(adjust(probs, self._prior_weights))  # after the TTA mean, as the card defines it
        return np.concatenate(out) if out else np.zeros((0, len(self.card.classes)), np.float32)

    def warm_up(self) -> None:
        """Run every bucket once so the first real batch pays no tracing or allocation cost."""
        for size in self.buckets:
            self._run(self._padded[size])

    @abstractmethod
    def _run(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities for a uint8 batch whose size is one of the buckets."""

    def close(self) -> None:  # noqa: B027 - an optional hook, not an abstract method
        """Release the model; a no-op where there is nothing to release."""


def configure_tf_threads(threads: int) -> None:
    """Set TensorFlow's CPU thread pools; they can only be set before TF runs its first op.

    One intra-op pool of ``threads`` does the convolutions; a single inter-op
    thread suffices for a sequential CNN and keeps the process from oversubscribing
    the cores next to ingest. If TF already ran in this process (tests, the
    evaluator loading several models) the pools stay as they are, with a warning.
    """
    import tensorflow as tf

    if not threads:
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        current = tf.config.threading.get_intra_op_parallelism_threads()
        if current != threads:
            log.warning(
                "TensorFlow already runs with %s intra-op threads; classifier.threads=%d not applied", current or "the default", threads
            )


class KerasRuntime(Runtime):
    """The ``.keras`` model on whichever Keras 3 backend this process imported (:mod:`emostream.classifier.backends`).

    Each backend gets its own compiled call per batch shape: a concrete
    ``tf.function`` (TensorFlow), a ``jax.jit`` of the model's stateless call,
    weights passed as arguments so they are not baked into every shape's program
    (JAX), or eager calls under ``inference_mode`` (PyTorch).
    """

    format = "keras"

    def __init__(self, card: ModelCard, batch_max: int, threads: int = 0, mixed_precision: bool = False) -> None:
        backend = backends.loaded_backend() or os.environ.get("KERAS_BACKEND", "tensorflow")
        if backend == "tensorflow":
            configure_tf_threads(threads)  # before TensorFlow runs its first op
        import keras

        self.backend = str(keras.backend.backend())
        gpu = backends.sees_gpu(self.backend)
        super().__init__(card, batch_max, GPU_SMALLEST_BUCKET if gpu else 1)
        self.device = "GPU" if gpu else "CPU"
        self.threads = cpu_threads(threads)
        if self.backend == "tensorflow":
            import tensorflow as tf

            self.threads = threads or tf.config.threading.get_intra_op_parallelism_threads() or cpu_threads()
        model = single_io(keras.models.load_model(card.verify("keras"), compile=False))
        self.precision = reduced_dtype(self.backend) if mixed_precision and gpu else "float32"
        if mixed_precision and not gpu:
            log.info("classifier.mixed_precision applies on a GPU only; computing in float32 on CPU")
        if self.precision != "float32":
            model = mixed_precision_copy(model, self.precision)
        elif stored_in_float16(model):  # half-size storage only: compute in float32
            model = with_policy(model, "float32")
        self.model = model
        self._forward = _compile(model, self.backend, float(card.scale), float(card.offset), [(size, *card.input_shape) for size in self.buckets])

    def _run(self, batch: np.ndarray) -> np.ndarray:
        return self._forward(batch)


def _compile(
    model: Any, backend: str, scale: float, offset: float, shapes: list[tuple[int, ...]]
) -> Callable[[np.ndarray], np.ndarray]:
    """uint8 batch -> float32 probabilities on ``backend``, converting to float on the device (a quarter of the bytes cross the bus).

    TensorFlow gets one concrete function per batch shape (no retracing check per
    call); ``jax.jit`` compiles each shape on its first call, in :meth:`Runtime.warm_up`.
    """
    if backend == "tensorflow":
        import tensorflow as tf

        def tf_forward(pixels: Any) -> Any:
            return tf.cast(model(tf.cast(pixels, tf.float32) * scale + offset, training=False), tf.float32)

        function = tf.function(tf_forward)
        concrete = {shape[0]: function.get_concrete_function(tf.TensorSpec(shape, tf.uint8)) for shape in shapes}
        return lambda batch: np.asarray(concrete[batch.shape[0]](batch), dtype=np.float32)
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        trainable = [v.value for v in model.trainable_variables]
        non_trainable = [v.value for v in model.non_trainable_variables]

        @jax.jit
        def jax_forward(trainable: Any, non_trainable: Any, pixels: Any) -> Any:
            outputs, _ = model.stateless_call(trainable, non_trainable, pixels.astype(jnp.float32) * scale + offset, training=False)
            return outputs.astype(jnp.float32)

        return lambda batch: np.asarray(jax_forward(trainable, non_trainable, batch), dtype=np.float32)
    import keras
    import torch

    def torch_forward(batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            inputs = keras.ops.cast(keras.ops.convert_to_tensor(batch), "float32") * scale + offset
            return np.asarray(keras.ops.convert_to_numpy(keras.ops.cast(model(inputs, training=False), "float32")), dtype=np.float32)

    return torch_forward


def interpreter_class() -> Any:
    """LiteRT's interpreter (a dependency: no TensorFlow in the CPU classifier), else TensorFlow's, identical but deprecated."""
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter
    except ImportError:
        from tensorflow import lite

        return lite.Interpreter


class TFLiteRuntime(Runtime):
    """One interpreter per bucket: resizing a TFLite interpreter reallocates its tensors.

    ``interpreter`` builds one (``model_path=``, ``num_threads=``); :func:`interpreter_class` by default.
    """

    format = "tflite"

    def __init__(self, card: ModelCard, batch_max: int, threads: int = 0, interpreter: Callable[..., Any] | None = None) -> None:
        super().__init__(card, batch_max)
        path = str(card.verify("tflite"))
        interpreter = interpreter or interpreter_class()
        self.threads = cpu_threads(threads)
        self._interpreters: dict[int, Any] = {}
        for size in self.buckets:
            with warnings.catch_warnings():  # tf.lite.Interpreter warns that LiteRT replaces it
                warnings.simplefilter("ignore")
                interp = interpreter(model_path=path, num_threads=self.threads)
            interp.resize_tensor_input(interp.get_input_details()[0]["index"], [size, *card.input_shape])
            interp.allocate_tensors()
            self._interpreters[size] = interp

    def _run(self, batch: np.ndarray) -> np.ndarray:
        interp = self._interpreters[batch.shape[0]]
        inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
        values = self.preprocess(batch)
        if inp["dtype"] != np.float32:  # fully-integer model: quantise with the input's own parameters
            scale, zero = inp["quantization"]
            info = np.iinfo(inp["dtype"])
            values = np.clip(np.round(values / scale + zero), info.min, info.max).astype(inp["dtype"])
        interp.set_tensor(inp["index"], values)
        interp.invoke()
        result = interp.get_tensor(out["index"])
        if out["dtype"] != np.float32:
            scale, zero = out["quantization"]
            result = (result.astype(np.float32) - zero) * scale
        return np.asarray(result, dtype=np.float32)

    def close(self) -> None:
        self._interpreters.clear()


def load_runtime(
    card: ModelCard, fmt: str, batch_max: int, threads: int = 0, mixed_precision: bool = False, *,
    backend: str = "auto", gpu_memory_fraction: float = 0.0,
) -> Runtime:
    """Load the model in ``fmt`` ("auto", "keras" or "tflite") and warm every batch shape up.

    ``auto`` also picks, among the card's TFLite variants, the one suited to this CPU
    (:mod:`emostream.classifier.format_choice`); an explicit ``tflite`` serves the card's ``files.tflite``.
    ``backend`` and ``gpu_memory_fraction`` (:func:`emostream.classifier.backends.select`) apply
    only if Keras is not imported yet; ``emostream classify`` selects them at start-up.
    """
    if fmt != "tflite":
        backends.select(backend, gpu_memory_fraction)
    chosen = resolve_format(card, fmt)
    if fmt == "auto" and chosen == "tflite":
        card = serving_card(card)
    fmt = chosen
    runtime: Runtime
    if fmt == "keras":
        runtime = KerasRuntime(card, batch_max, threads, mixed_precision)
    elif fmt == "tflite":
        runtime = TFLiteRuntime(card, batch_max, threads)
    else:
        raise ValueError(f"unknown model format {fmt!r}; use 'auto', 'keras' or 'tflite'")
    runtime.warm_up()
    where = f"{runtime.device}, {getattr(runtime, 'backend', 'litert')}, {getattr(runtime, 'precision', 'float32')}"
    priors = f"priors tau {card.prior_tau:g}" if card.prior_tau else "no priors"
    log.info(
        "model %s (%s, %s, %s) ready on %s, %d thread(s), batch shapes %s",
        card.label, fmt, card.files[fmt], priors, where, runtime.threads, runtime.buckets,
    )
    return runtime
