"""Which weights the classifier serves: chosen by CPU features and GPU presence, without TensorFlow."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emostream.classifier import backends, format_choice
from emostream.infra import cpufeatures
from emostream.infra.modelcard import ModelCard, load_card

AVX2_ONLY = frozenset(["fpu", "sse4_2", "avx", "avx2", "fma", "f16c"])
VNNI = AVX2_ONLY | {"avx512f", "avx512_vnni"}
ALDER_LAKE = AVX2_ONLY | {"avx_vnni"}
SAPPHIRE_RAPIDS = AVX2_ONLY | {"avx512f", "amx_tile", "amx_int8"}
GRAVITON = frozenset(["fp", "asimd", "crc32", "atomics", "asimddp"])


@pytest.mark.parametrize(
    ("flags", "fast"),
    [(AVX2_ONLY, False), (VNNI, True), (ALDER_LAKE, True), (SAPPHIRE_RAPIDS, True), (GRAVITON, True), (frozenset(), False)],
    ids=["avx2-only", "avx512-vnni", "avx-vnni", "amx", "arm-dotprod", "unreadable"],
)
def test_fast_int8_means_int8_dot_product_instructions(flags: frozenset[str], fast: bool) -> None:
    assert cpufeatures.fast_int8(flags) is fast
    assert cpufeatures.describe(flags).startswith("fast" if fast else "no fast")


def test_flags_are_read_from_cpuinfo_on_x86_and_arm(tmp_path: Path) -> None:
    x86 = tmp_path / "x86"
    x86.write_text("processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu avx2 avx512_vnni\n\nprocessor\t: 1\nflags\t\t: fpu\n")
    assert cpufeatures.cpu_flags(x86) == {"fpu", "avx2", "avx512_vnni"}, "the first CPU's flags"
    arm = tmp_path / "arm"
    arm.write_text("processor\t: 0\nFeatures\t: fp asimd asimddp\n")
    assert cpufeatures.cpu_flags(arm) == {"fp", "asimd", "asimddp"}
    assert cpufeatures.cpu_flags(tmp_path / "missing") == frozenset(), "unreadable: no flags, so the float path"


def card_with(tmp_path: Path, served: str, variants: dict[str, str]) -> ModelCard:
    """A model folder whose card serves ``served`` and lists ``variants`` (name -> file), every file present."""
    base = load_card("mini-xception")
    blob = (base.folder / base.files["tflite"]).read_bytes()
    for file in {served, *variants.values()}:
        (tmp_path / file).write_bytes(blob)
    body = json.loads((base.folder / "model.json").read_text())
    body["files"] = {"tflite": served}
    body["sha256"] = {}
    body["tflite_variants"] = {name: {"file": file} for name, file in variants.items()}
    (tmp_path / "model.json").write_text(json.dumps(body))
    return load_card(tmp_path)


@pytest.mark.parametrize(
    ("flags", "served", "variants", "expected"),
    [
        (AVX2_ONLY, "model-dynamic.tflite", {"dynamic": "model-dynamic.tflite", "fp16": "model-fp16.tflite"}, "model-fp16.tflite"),
        (VNNI, "model-fp16.tflite", {"dynamic": "model-dynamic.tflite", "fp16": "model-fp16.tflite"}, "model-dynamic.tflite"),
        (SAPPHIRE_RAPIDS, "model.tflite", {"dynamic": "model-dynamic.tflite", "float32": "model.tflite"}, "model-dynamic.tflite"),
        (AVX2_ONLY, "model-dynamic.tflite", {"dynamic": "model-dynamic.tflite", "float32": "a.tflite", "fp16": "b.tflite"}, "a.tflite"),
        (AVX2_ONLY, "model-dynamic.tflite", {"dynamic": "model-dynamic.tflite"}, "model-dynamic.tflite"),
        (VNNI, "model.tflite", {}, "model.tflite"),
        (VNNI, "model-int8.tflite", {"int8": "model-int8.tflite"}, "model-int8.tflite"),
    ],
    ids=["avx2-float", "vnni-dynamic", "amx-dynamic", "float32-before-fp16", "no-alternative", "no-variants", "full-int8-kept"],
)
def test_auto_serves_int8_only_where_the_cpu_has_fast_int8(
    tmp_path: Path, flags: frozenset[str], served: str, variants: dict[str, str], expected: str
) -> None:
    card = card_with(tmp_path, served, variants)
    chosen = format_choice.serving_card(card, flags)
    assert chosen.files["tflite"] == expected
    assert chosen.verify("tflite").name == expected, "the chosen file is checked like the card's own"


def test_a_slow_int8_only_card_is_named_as_such(tmp_path: Path) -> None:
    card = card_with(tmp_path, "model-dynamic.tflite", {"dynamic": "model-dynamic.tflite"})
    name, why = format_choice.tflite_choice(card, AVX2_ONLY)
    assert name is None and "slow here" in why, why


def test_a_variant_whose_hash_does_not_match_is_refused(tmp_path: Path) -> None:
    card = card_with(tmp_path, "model-dynamic.tflite", {"dynamic": "model-dynamic.tflite", "fp16": "model-fp16.tflite"})
    entry = card.extra["tflite_variants"]["fp16"]
    entry["sha256"] = "0" * 64
    with pytest.raises(ValueError, match="sha256 does not match"):
        format_choice.serving_card(card, AVX2_ONLY).verify("tflite")


def test_no_gpu_device_means_no_framework_question(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert not format_choice.gpu_device_present()
    monkeypatch.setattr("importlib.util.find_spec", lambda name: pytest.fail(f"{name} must not be looked for"))
    assert not format_choice.gpu_visible()


def test_an_explicit_tflite_format_serves_the_cards_own_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from emostream.classifier import runtime as rt

    card = card_with(tmp_path, "model-dynamic.tflite", {"dynamic": "model-dynamic.tflite", "fp16": "model-fp16.tflite"})
    monkeypatch.setattr(format_choice, "cpu_flags", lambda: AVX2_ONLY)
    assert rt.load_runtime(card, "tflite", batch_max=1).card.files["tflite"] == "model-dynamic.tflite", "evaluation needs the named file"
    assert rt.load_runtime(card, "auto", batch_max=1).card.files["tflite"] == "model-fp16.tflite", "auto picks for this CPU"


def test_a_gpu_device_node_sends_the_question_to_the_installed_backends(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(backends.glob, "glob", lambda pattern: ["/dev/nvidia0"] if pattern.startswith("/dev/nvidia") else [])
    assert format_choice.gpu_device_present()
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    monkeypatch.setattr(backends, "loaded_backend", lambda: None)  # as in a fresh classifier process
    asked: list[str] = []
    monkeypatch.setattr("importlib.util.find_spec", lambda name: asked.append(name))
    assert not format_choice.gpu_visible(), "a GPU without any Keras backend installed is served on the CPU (TFLite)"
    assert asked == list(backends.GPU_ORDER), f"every backend is asked, JAX first: {asked}"
