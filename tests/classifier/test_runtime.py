"""The inference runtime: formats agree, padding changes nothing, settings really apply."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from emostream.classifier import format_choice
from emostream.classifier import runtime as rt
from emostream.classifier.rate import RateMeter
from emostream.infra.modelcard import ModelCard, load_card


@pytest.fixture(scope="module")
def card() -> ModelCard:
    return load_card("mini-xception")


@pytest.fixture(scope="module")
def crops(card: ModelCard) -> np.ndarray:
    return np.random.default_rng(7).integers(0, 256, (11, *card.input_shape), dtype=np.uint8)


@pytest.fixture(scope="module")
def keras_runtime(card: ModelCard) -> Iterator[rt.Runtime]:
    runtime = rt.load_runtime(card, "keras", batch_max=8)
    yield runtime
    runtime.close()


@pytest.fixture(scope="module")
def tflite_runtime(card: ModelCard) -> Iterator[rt.Runtime]:
    runtime = rt.load_runtime(card, "tflite", batch_max=8)
    yield runtime
    runtime.close()


def test_keras_and_tflite_give_the_same_probabilities(keras_runtime: rt.Runtime, tflite_runtime: rt.Runtime, crops: np.ndarray) -> None:
    # Keras preprocesses inside the graph, TFLite in NumPy: both must follow the card.
    keras_probs, tflite_probs = keras_runtime.predict(crops), tflite_runtime.predict(crops)
    assert keras_probs.shape == (len(crops), 7)
    np.testing.assert_allclose(keras_probs.sum(axis=1), 1.0, atol=1e-4, err_msg="rows must be probabilities")
    gap = float(np.abs(keras_probs - tflite_probs).max())
    assert gap < 1e-4, f"the two formats of one model disagree by {gap}"


@pytest.mark.parametrize("fmt", ["keras", "tflite"])
def test_padding_and_splitting_do_not_change_a_face_s_result(fmt: str, request: pytest.FixtureRequest, crops: np.ndarray) -> None:
    runtime: rt.Runtime = request.getfixturevalue(f"{fmt}_runtime")
    one_by_one = np.concatenate([runtime.predict(crops[i : i + 1]) for i in range(len(crops))])
    together = runtime.predict(crops)  # 11 faces, batch_max 8: a full 8 and 3 padded to 4
    np.testing.assert_allclose(together, one_by_one, atol=1e-5, err_msg=f"{fmt}: a face's result depends on its batch")


def test_predict_wants_uint8_pixels_of_the_card_s_shape(tflite_runtime: rt.Runtime, crops: np.ndarray) -> None:
    with pytest.raises(TypeError, match="uint8"):
        tflite_runtime.predict(crops.astype(np.float32))
    with pytest.raises(ValueError, match="the model wants"):
        tflite_runtime.predict(crops[:, :48, :48])
    assert tflite_runtime.predict(crops[:0]).shape == (0, 7)


def test_auto_serves_tflite_on_a_cpu_and_keras_when_there_is_no_tflite(card: ModelCard) -> None:
    assert not format_choice.gpu_visible(), "this test expects a machine without a GPU"
    assert rt.resolve_format(card, "auto") == "tflite"
    keras_only = ModelCard(**{**card.__dict__, "files": {"keras": card.files["keras"]}})
    assert rt.resolve_format(keras_only, "auto") == "keras"
    assert rt.resolve_format(card, "keras") == "keras", "an explicit format is kept"


def test_tflite_interpreters_get_the_configured_thread_count(card: ModelCard) -> None:
    made: list[dict[str, Any]] = []
    real = rt.interpreter_class()

    def recording(**kwargs: Any) -> Any:
        made.append(kwargs)
        return real(**kwargs)

    runtime = rt.TFLiteRuntime(card, batch_max=4, threads=1, interpreter=recording)
    assert [m["num_threads"] for m in made] == [1, 1, 1], "one interpreter per bucket (1, 2, 4), each with num_threads=1"
    assert runtime.threads == 1
    made.clear()
    rt.TFLiteRuntime(card, batch_max=1, threads=0, interpreter=recording)
    assert made[0]["num_threads"] == rt.cpu_threads(), "threads 0 means every core the process may use"


def test_keras_runtime_sets_tensorflow_s_thread_pools() -> None:
    # TensorFlow fixes its pools when it runs its first op, so check in a fresh process.
    code = (
        "import tensorflow as tf\n"
        "from emostream.classifier.runtime import load_runtime\n"
        "from emostream.infra.modelcard import load_card\n"
        "runtime = load_runtime(load_card('mini-xception'), 'keras', batch_max=2, threads=1)\n"
        "threading = tf.config.threading\n"
        "print(threading.get_intra_op_parallelism_threads(), threading.get_inter_op_parallelism_threads(), runtime.threads)\n"
    )
    # The child imports the emostream under test, not whichever one the virtual environment installed.
    env = {"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "", "PYTHONPATH": str(Path(rt.__file__).parents[2])}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split()[-3:] == ["1", "1", "1"], f"intra-op, inter-op, runtime threads: {proc.stdout!r}"


def test_a_second_runtime_with_other_threads_warns_instead_of_failing(keras_runtime: rt.Runtime, caplog: pytest.LogCaptureFixture) -> None:
    import tensorflow as tf

    current = tf.config.threading.get_intra_op_parallelism_threads()
    rt.configure_tf_threads(current + 3)  # TF is running in this process: pools are fixed
    assert "not applied" in caplog.text, caplog.text


def test_mixed_precision_copy_computes_in_float16_and_answers_in_float32(keras_runtime: rt.Runtime, crops: np.ndarray) -> None:
    model = keras_runtime.model  # type: ignore[attr-defined]
    mixed = rt.mixed_precision_copy(model)
    policies = {layer.dtype_policy.name for layer in mixed.layers[1:-1]}
    assert policies == {"mixed_float16"}, f"hidden layers must compute in float16, got {policies}"
    assert mixed.layers[-1].dtype_policy.name == "float32", "the softmax stays float32"
    inputs = keras_runtime.preprocess(crops)
    gap = float(np.abs(np.asarray(mixed(inputs), dtype=np.float32) - np.asarray(model(inputs))).max())
    assert gap < 0.02, f"float16 compute moved a probability by {gap}"


def test_rate_meter_counts_faces_over_its_window() -> None:
    now = [100.0]
    meter = RateMeter(window_s=10.0, clock=lambda: now[0])
    now[0] = 102.0
    meter.add(40)
    assert meter.rate() == pytest.approx(20.0), "40 faces in the first 2 s"
    now[0] = 110.0
    meter.add(60)
    assert meter.rate() == pytest.approx(10.0), "100 faces in the last 10 s"
    now[0] = 121.0
    assert meter.rate() == 0.0, "nothing in the last 10 s"


@pytest.mark.parametrize("fmt", ["keras", "tflite"])
def test_a_card_with_flip_tta_averages_each_face_with_its_mirror_image(card: ModelCard, crops: np.ndarray, fmt: str) -> None:
    from dataclasses import replace

    plain = rt.load_runtime(card, fmt, batch_max=8)
    flipped = rt.load_runtime(replace(card, tta="flip"), fmt, batch_max=8)
    try:
        expected = (plain.predict(crops) + plain.predict(np.ascontiguousarray(crops[:, :, ::-1]))) / 2
        got = flipped.predict(crops)
        mirrored = flipped.predict(np.ascontiguousarray(crops[:, :, ::-1]))
    finally:
        plain.close()
        flipped.close()
    assert got.shape == (len(crops), 7)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    np.testing.assert_allclose(mirrored, got, atol=1e-5, err_msg="with flip TTA a face and its mirror image get the same answer")


def test_keras_weights_stored_in_float16_are_served_in_float32(card: ModelCard, keras_runtime: rt.Runtime, crops: np.ndarray, tmp_path: Path) -> None:
    """Half-size storage (export --keras-dtype float16) changes the file, not how the model computes."""
    import shutil
    from dataclasses import replace

    folder = tmp_path / "half"
    shutil.copytree(card.folder, folder)
    half = rt.with_policy(keras_runtime.model, "float16")  # type: ignore[attr-defined]
    assert rt.stored_in_float16(half)
    half.save(folder / "model.keras")
    runtime = rt.load_runtime(replace(card, folder=folder, sha256={}), "keras", batch_max=8)
    try:
        assert not rt.stored_in_float16(runtime.model), "the runtime computes with float32 weights"  # type: ignore[attr-defined]
        gap = float(np.abs(runtime.predict(crops) - keras_runtime.predict(crops)).max())
    finally:
        runtime.close()
    import keras

    assert rt.stored_in_float16(keras.models.load_model(folder / "model.keras", compile=False)), "the file holds float16 weights"
    assert gap < 0.01, f"float16 storage moved a probability by {gap}"
