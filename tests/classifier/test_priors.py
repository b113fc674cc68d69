"""Calibrated class priors: the card's ``prior`` and ``prior_tau``, applied once by the runtime, overridden by the configuration."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis
from prometheus_client import CollectorRegistry

from emostream.classifier.runtime import Runtime, load_runtime
from emostream.classifier.worker import ClassifierWorker
from emostream.config import ConfigError
from emostream.infra.emotions import EMOTIONS
from emostream.infra.modelcard import CARD_FILE, ModelCard, ModelCardError, load_card, packaged_models_dir, with_prior_tau
from tests.helpers import face_job

DISGUST, NEUTRAL = EMOTIONS.index("disgust"), EMOTIONS.index("neutral")
# Training shares of a FER+-like label set: neutral common, disgust rare.
PRIOR = (0.09, 0.01, 0.03, 0.27, 0.14, 0.12, 0.34)
SHIPPED_TAU = 0.15  # fast 1.2.0's card: chosen on Training's holdout (docs/MODEL.md, "Faces as cameras give them")
# A face the model finds slightly more neutral than disgusted.
BORDERLINE = np.array([0.05, 0.36, 0.02, 0.05, 0.06, 0.04, 0.42], np.float32)


def softmax_shifted(probs: np.ndarray, prior: tuple[float, ...], tau: float) -> np.ndarray:
    """softmax(log p - tau log prior), written out independently of emostream.classifier.priors."""
    z = np.log(probs.astype(np.float64)) - tau * np.log(np.asarray(prior, np.float64))
    z -= z.max(axis=1, keepdims=True)
    return np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)


class FixedRuntime(Runtime):
    """A backend that answers ``plain`` for a crop whose left column is dark and ``mirrored`` otherwise (its mirror image)."""

    format = "fixed"

    def __init__(self, card: ModelCard, plain: np.ndarray, mirrored: np.ndarray) -> None:
        super().__init__(card, batch_max=4)
        self.plain, self.mirrored = plain, mirrored

    def _run(self, batch: np.ndarray) -> np.ndarray:
        dark_left = batch[:, :, 0].mean(axis=(1, 2)) < batch[:, :, -1].mean(axis=(1, 2))
        return np.where(dark_left[:, None], self.plain, self.mirrored).astype(np.float32)


def half_dark_crops(card: ModelCard, n: int) -> np.ndarray:
    crops = np.zeros((n, *card.input_shape), np.uint8)
    crops[:, :, card.width // 2 :] = 255
    return crops


def test_the_prior_moves_a_borderline_face_to_the_rarer_class_and_tau_0_changes_nothing() -> None:
    card = replace(load_card("fast"), tta="", prior=PRIOR)
    crops = half_dark_crops(card, 3)
    plain = FixedRuntime(replace(card, prior_tau=0.0), BORDERLINE, BORDERLINE).predict(crops)
    assert np.array_equal(plain, np.tile(BORDERLINE, (3, 1))), "tau 0 must leave the model's probabilities exactly as they are"
    assert plain.argmax(axis=1).tolist() == [NEUTRAL] * 3
    adjusted = FixedRuntime(replace(card, prior_tau=0.2), BORDERLINE, BORDERLINE).predict(crops)
    assert adjusted.argmax(axis=1).tolist() == [DISGUST] * 3, "dividing by prior ** tau must favour the rare class"
    np.testing.assert_allclose(adjusted, softmax_shifted(plain, PRIOR, 0.2), rtol=1e-5)
    np.testing.assert_allclose(adjusted.sum(axis=1), 1.0, rtol=1e-6)


def test_with_flip_tta_the_prior_applies_once_to_the_mean_of_the_face_and_its_mirror() -> None:
    card = replace(load_card("fast"), tta="flip", prior=PRIOR, prior_tau=0.5)
    plain = np.array([0.05, 0.10, 0.05, 0.10, 0.10, 0.10, 0.50], np.float32)
    mirrored = np.array([0.05, 0.50, 0.05, 0.10, 0.10, 0.10, 0.10], np.float32)
    out = FixedRuntime(card, plain, mirrored).predict(half_dark_crops(card, 2))
    expected = softmax_shifted(((plain + mirrored) / 2)[None], PRIOR, 0.5)
    np.testing.assert_allclose(out, np.tile(expected, (2, 1)), rtol=1e-5)


def card_folder(tmp_path: Path, **changes: Any) -> Path:
    """A copy of the fast model's card (no weights: loading a card does not read them) with ``changes``; None removes a key."""
    body = json.loads((packaged_models_dir() / "fast" / CARD_FILE).read_text())
    for key, value in changes.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    folder = tmp_path / "model"
    folder.mkdir(exist_ok=True)
    (folder / CARD_FILE).write_text(json.dumps(body))
    return folder


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"prior": list(PRIOR[:6])}, "must hold 7 class shares"),
        ({"prior": [*PRIOR, 0.0]}, "must hold 7 class shares"),
        ({"prior": [0.1, -0.01, 0.04, 0.27, 0.14, 0.12, 0.34]}, "finite and above 0"),
        ({"prior": [0.1, 0.0, 0.03, 0.27, 0.14, 0.12, 0.34]}, "finite and above 0"),
        ({"prior": [math.nan, 0.01, 0.03, 0.27, 0.14, 0.12, 0.34]}, "finite and above 0"),
        ({"prior": [0.2, 0.01, 0.03, 0.27, 0.14, 0.12, 0.34]}, "must sum to 1"),
        ({"prior": "uniform"}, "malformed model card"),
        ({"prior_tau": -0.1}, "finite number >= 0"),
        ({"prior_tau": math.inf}, "finite number >= 0"),
        ({"prior": None, "prior_tau": 0.2}, "needs a prior"),
    ],
)
def test_a_card_with_a_bad_prior_is_refused_with_what_is_wrong(tmp_path: Path, changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ModelCardError, match=message):
        load_card(card_folder(tmp_path, **changes))


def test_a_card_without_a_prior_applies_none_and_a_good_one_loads(tmp_path: Path) -> None:
    bare = load_card(card_folder(tmp_path, prior=None, prior_tau=None))
    assert bare.prior is None and bare.prior_tau == 0.0
    card = load_card(card_folder(tmp_path, prior=list(PRIOR), prior_tau=0.3))
    assert card.prior == PRIOR and card.prior_tau == 0.3
    assert "prior" not in card.extra and "prior_tau" not in card.extra
    with pytest.raises(ModelCardError, match=r"classifier\.prior_tau .* needs a prior"):
        with_prior_tau(bare, 0.2)
    assert with_prior_tau(bare, 0.0) is bare and with_prior_tau(card, None) is card


@pytest.mark.parametrize("tau", [-0.5, math.inf, math.nan])
def test_the_configuration_refuses_a_tau_that_is_negative_or_not_finite(make_config: Any, tau: float) -> None:
    with pytest.raises(ConfigError, match="prior_tau"):
        make_config(classifier={"prior_tau": tau})


def event_probabilities(rclient: redis.Redis, worker: ClassifierWorker) -> np.ndarray:
    entries: Any = rclient.xrange(worker.keys.events("cam1"))
    events = sorted((json.loads(fields[b"data"]) for _, fields in entries), key=lambda e: e["frame"]["seq"])
    return np.array([[e["emotion"]["probabilities"][name] for name in EMOTIONS] for e in events])


@pytest.mark.parametrize("override", [None, 0.0, 0.5])
def test_the_configured_tau_wins_over_the_card_in_the_published_events(
    make_config: Any, rclient: redis.Redis, override: float | None
) -> None:
    # Given the shipped fast model, whose card serves tau 0.15, and a replica configured with classifier.prior_tau
    card = load_card("fast")
    assert card.prior is not None and card.prior_tau == SHIPPED_TAU
    config = make_config(classifier={"model": "fast", "format": "tflite", "batch_max": 8, "batch_wait_ms": 0, "prior_tau": override})
    worker = ClassifierWorker(config, CollectorRegistry(), http_port=-1, consumer="c1")
    jobs = [face_job(seq=seq, size=48) for seq in range(6)]
    for job in jobs:
        rclient.xadd(worker.keys.faces, job.encode())  # type: ignore[arg-type]
    # When it classifies them
    worker.step()
    worker.runtime.close()
    # Then the events carry the model's probabilities adjusted with the configured tau (the card's when None)
    raw_runtime = load_runtime(with_prior_tau(card, 0.0), "tflite", batch_max=8)
    raw = raw_runtime.predict(np.stack([job.crop for job in jobs]))
    raw_runtime.close()
    tau = card.prior_tau if override is None else override
    published = event_probabilities(rclient, worker)
    np.testing.assert_allclose(published, softmax_shifted(raw, card.prior, tau), atol=6e-5)
    assert worker.health()["prior_tau"] == tau
    if tau != card.prior_tau:
        assert np.abs(published - softmax_shifted(raw, card.prior, card.prior_tau)).max() > 1e-3, "the card's tau must not apply"


@pytest.mark.parametrize("fmt", ["tflite", "keras"])
def test_the_shipped_fast_model_serves_its_card_prior_at_its_tau(fmt: str) -> None:
    # The real model, card and runtime of either format: its served probabilities are the model's (flip TTA
    # included) divided by prior ** 0.15, i.e. softmax(log p - 0.15 log prior).
    card = load_card("fast")
    assert card.prior_tau == SHIPPED_TAU and card.prior is not None and abs(sum(card.prior) - 1) < 1e-3
    assert card.prior[DISGUST] < card.prior[NEUTRAL]
    crops = np.random.default_rng(28).integers(0, 256, (12, *card.input_shape), dtype=np.uint8)
    served_runtime, raw_runtime = load_runtime(card, fmt, batch_max=8), load_runtime(with_prior_tau(card, 0.0), fmt, batch_max=8)
    served, raw = served_runtime.predict(crops), raw_runtime.predict(crops)
    served_runtime.close()
    raw_runtime.close()
    np.testing.assert_allclose(served, softmax_shifted(raw, card.prior, SHIPPED_TAU), atol=1e-5)
    assert np.abs(served - raw).max() > 1e-3, "the card's tau must change what is served"
