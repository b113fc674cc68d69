"""Which Keras 3 backend runs the Keras model, chosen before Keras is imported.

Keras 3 reads ``KERAS_BACKEND`` once, when ``keras`` is first imported, and the
backend is then fixed for the process. So the choice is made at start-up
(``emostream classify`` calls :func:`select` before building the worker), the
environment is set, and only then does the runtime import Keras.

Details at :func:`select`.
"""

from __future__ import annotations

import glob
import importlib.util
import logging
import os
import sys
from collections.abc import MutableMapping

log = logging.getLogger(__name__)

BACKENDS = ("tensorflow", "jax", "torch")
INSTALL = {  # how to get each backend's package (tensorflow with the training extra, as its import error says elsewhere)
    "tensorflow": "pip install 'emostream[train]'",
    "jax": "pip install 'jax[cuda12]' (or jax for the CPU)",
    "torch": "pip install torch (a CUDA wheel from pytorch.org for GPUs)",
}
GPU_ORDER = ("jax", "torch", "tensorflow")  # auto: the first of these that sees a GPU


class BackendError(ValueError):
    """The configured backend cannot be used in this process; the message says why in one line."""


def installed(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def gpu_device_present() -> bool:
    """Whether the OS shows a GPU a framework could use, without loading it.

    NVIDIA device nodes (``/dev/nvidia0``..., also inside containers run with the
    NVIDIA toolkit), ROCm's ``/dev/kfd``, or WSL 2's ``/dev/dxg``. Anything else
    (a GPU TensorFlow could use but this misses) is served on the CPU by ``auto``;
    ``classifier.format: keras`` still asks TensorFlow directly.
    """
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    return bool(glob.glob("/dev/nvidia[0-9]*") or os.path.exists("/dev/kfd") or os.path.exists("/dev/dxg"))


def loaded_backend() -> str | None:
    """The backend of the Keras already imported in this process, None when Keras is not imported."""
    keras = sys.modules.get("keras")
    if keras is None:
        return None
    return str(keras.backend.backend())


def sees_gpu(name: str) -> bool:
    """Whether backend ``name`` sees a GPU; it is imported only when installed and the OS shows a GPU device."""
    if not gpu_device_present() or not installed(name):
        return False
    if name == "jax":
        import jax

        try:
            return bool(jax.devices("gpu"))
        except RuntimeError:  # no CUDA/ROCm plugin: the CPU wheel
            return False
    if name == "torch":
        import torch

        return bool(torch.cuda.is_available())
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def bound_gpu_memory(fraction: float, env: MutableMapping[str, str] = os.environ) -> None:
    """Set the frameworks' GPU memory variables; they take effect only if set before the framework is imported.

    ``fraction`` 0: no cap, memory allocated on demand. Above 0: JAX caps its
    allocator at that share of the GPU (``XLA_PYTHON_CLIENT_MEM_FRACTION``);
    PyTorch's cap is applied by :func:`select` once torch is imported;
    TensorFlow has no share setting before import and only grows on demand.
    """
    env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    env.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
    if fraction > 0:
        env.setdefault("XLA_PYTHON_CLIENT_MEM_FRACTION", f"{fraction:.3f}")


def choose(requested: str, env: MutableMapping[str, str] = os.environ) -> str | None:
    """The backend to use for ``requested`` (auto or a name); None: no GPU, the CPU path. Raises BackendError."""
    if requested != "auto" and requested not in BACKENDS:
        raise BackendError(f"classifier.backend {requested!r} is unknown; use auto, {', '.join(BACKENDS)}")
    loaded = loaded_backend()
    if loaded is not None:
        if loaded not in BACKENDS:
            raise BackendError(f"keras is already imported in this process with the {loaded} backend, which the classifier does not serve on")
        if requested not in ("auto", loaded):
            raise BackendError(
                f"classifier.backend {requested} cannot apply: keras is already imported in this process with the {loaded} backend "
                "(the backend is fixed when keras is first imported; start a new process)"
            )
        return loaded
    if requested == "auto":
        preset = env.get("KERAS_BACKEND")
        if preset and preset not in BACKENDS:
            raise BackendError(f"KERAS_BACKEND={preset} is not a backend the classifier serves on; use {', '.join(BACKENDS)} or unset it")
        if preset:  # the operator's choice, checked like an explicit one
            return choose(preset, env)
        return next((name for name in GPU_ORDER if sees_gpu(name)), None)
    if not installed(requested):
        raise BackendError(
            f"classifier.backend {requested} needs the {requested} package, which is not installed in this environment: {INSTALL[requested]}"
        )
    return requested


def select(requested: str, gpu_memory_fraction: float = 0.0, env: MutableMapping[str, str] = os.environ) -> str | None:
    """Bound GPU memory, choose the backend and set ``KERAS_BACKEND``; call before anything imports Keras.

    Returns the backend, or None when ``auto`` found no GPU (TFLite serves on the CPU).

    ``auto`` takes a backend that sees a GPU, asking JAX first (the fastest of the
    three on the H200 the issue measured, and the smallest CUDA install), then
    PyTorch, then TensorFlow; each is imported only when it is installed and the
    operating system shows a GPU device node. With no GPU nothing is chosen: the CPU
    path is TFLite, and a Keras model forced onto the CPU runs on ``KERAS_BACKEND``
    or Keras's own default.

    GPU memory is bounded the same way, through environment variables each
    framework reads at import (set before any of them is imported, the GPU probe of
    ``auto`` included): JAX neither preallocates 75 % of the GPU nor (with
    ``gpu_memory_fraction``) grows past its share; TensorFlow grows on demand;
    PyTorch's caching allocator is capped with ``set_per_process_memory_fraction``.
    Variables already in the environment win, so an operator can still override.
    """
    bound_gpu_memory(gpu_memory_fraction, env)
    name = choose(requested, env)
    if name is None:
        log.debug("classifier.backend auto: no Keras backend sees a GPU; the CPU path serves")
        return None
    env["KERAS_BACKEND"] = name
    if name == "torch" and gpu_memory_fraction > 0 and sees_gpu("torch"):
        import torch

        torch.cuda.set_per_process_memory_fraction(gpu_memory_fraction)
    if name == "tensorflow" and gpu_memory_fraction > 0:
        log.warning("classifier.gpu_memory_fraction is not applied under tensorflow, whose GPU memory grows on demand instead")
    log.debug("classifier backend: %s", name)  # load_runtime logs it with the model
    return name
