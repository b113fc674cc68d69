"""A loaded Keras model rebuilt in another dtype: mixed precision for serving, float16 storage for export.

Shared by the classifier's Keras runtime and by training's export, which
stores weights as float16 with the same rebuild.
"""

from __future__ import annotations

from typing import Any


def with_policy(model: Any, policy: str, output_policy: str | None = None) -> Any:
    """The same model, same weights, rebuilt with the dtype ``policy`` in every layer
    (``output_policy``, when given, in the output layer).

    ``keras.models.load_model`` keeps the dtype policy saved with each layer, so
    setting the global policy before loading changes nothing; the model has to
    be rebuilt layer by layer (inside nested models too: the members of an
    ensemble) and given the weights, which are cast to the new variable dtype.
    """
    import keras

    last = model.layers[-1].name

    def clone(layer: Any) -> Any:
        config = layer.get_config()
        config["dtype"] = output_policy if output_policy and layer.name == last else policy
        return layer.__class__.from_config(config)

    copy = keras.models.clone_model(model, clone_function=clone, recursive=True)
    copy.set_weights(model.get_weights())
    return single_io(copy)


def mixed_precision_copy(model: Any, dtype: str = "float16") -> Any:
    """The same model computing in ``dtype`` (float16 or bfloat16; variables float32), its output layer
    in float32, as the Keras mixed-precision guide advises for the softmax."""
    return with_policy(model, f"mixed_{dtype}", output_policy="float32")


def reduced_dtype(backend: str) -> str:
    """bfloat16 on a GPU that computes in it natively (NVIDIA compute capability 8.0+, Ampere on), else float16.

    bfloat16 keeps float32's range, so no logit overflows and no loss scaling is
    needed; older GPUs emulate it slowly but have float16 tensor cores.
    """
    if backend == "jax":
        import jax

        capability = getattr(jax.devices("gpu")[0], "compute_capability", "0")
        return "bfloat16" if float(capability) >= 8.0 else "float16"
    if backend == "torch":
        import torch

        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    import tensorflow as tf

    details = tf.config.experimental.get_device_details(tf.config.list_physical_devices("GPU")[0])
    return "bfloat16" if tuple(details.get("compute_capability", (0, 0))) >= (8, 0) else "float16"


def stored_in_float16(model: Any) -> bool:
    """Whether the weights were saved as float16 (``emostream export --keras-dtype float16``)."""
    return any("float16" in str(w.dtype) for w in model.weights)


def single_io(model: Any) -> Any:
    """The model taking one tensor, not a list of one: old .h5 conversions (mini-Xception)
    declare their input as a list, and calling them with a tensor warns on every trace."""
    import keras

    if len(model.inputs) == 1 and len(model.outputs) == 1:
        return keras.Model(model.inputs[0], model.outputs[0], name=model.name)
    return model
