"""Calibrated class priors (logit adjustment), applied to what the model outputs.

A model trained on FER+ learns its training labels' class shares: neutral and
happy take most of the mass, disgust and fear little, and its answers lean to
the frequent classes. Logit adjustment (Menon et al., 2021) subtracts
``tau * log prior`` from the logits: tau 0 is the model as trained, tau 1 the
rule that minimises the balanced error. The served models end in a softmax,
so the runtime gets probabilities ``p``; with ``z`` the logits,
``softmax(z - tau log prior) = softmax(log p - tau log prior)``, which is
``p / prior ** tau`` renormalised: that is what is computed here. With flip
TTA the card's probabilities are the mean over the face and its mirror, and
the adjustment applies to that mean (after averaging, once).

The card carries ``prior`` and ``prior_tau`` (:class:`emostream.infra.modelcard.ModelCard`);
``classifier.prior_tau`` overrides the tau. :meth:`emostream.classifier.runtime.Runtime.predict`
is the one place that applies it, for every format and backend.
"""

from __future__ import annotations

import numpy as np

from emostream.infra.modelcard import ModelCard


def prior_weights(card: ModelCard) -> np.ndarray | None:
    """``prior ** -tau`` per class, or None when the card applies no prior (tau 0 or no prior)."""
    if card.prior is None or card.prior_tau == 0:
        return None
    return np.asarray(np.asarray(card.prior, dtype=np.float64) ** -card.prior_tau, dtype=np.float32)


def adjust(probs: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    """Probabilities (N, 7) divided by ``prior ** tau`` (``weights``) and renormalised; ``probs`` itself when ``weights`` is None."""
    if weights is None or len(probs) == 0:
        return probs
    scaled = np.maximum(probs, 0.0) * weights
    total = scaled.sum(axis=1, keepdims=True)
    # A row of zeros (impossible for a softmax; guarded all the same) stays zeros rather than NaN.
    return np.asarray(np.divide(scaled, total, out=np.zeros_like(scaled), where=total > 0), dtype=np.float32)
