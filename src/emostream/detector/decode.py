"""BlazeFace's raw outputs to boxes, six keypoints and scores, as MediaPipe's ``TensorsToDetectionsCalculator`` does.

Each anchor's 16 regressors are, in the model's (x-first, "reverse output
order") layout: box centre x, y, width, height, then six keypoints as x, y
pairs, all in model-input pixels relative to the anchor centre. Dividing by
the input size (the graphs' x/y/w/h scale: 128 or 192) and adding the anchor
centre gives 0..1 coordinates of the model input. The score is the sigmoid of
the logit clipped to +-100 (the graphs' ``score_clipping_thresh``), so a wild
logit cannot overflow ``exp``. Only anchors at or above ``min_score`` are
decoded, which for a frame is a handful of the 896 or 2304.

Keypoint order is MediaPipe's: right eye, left eye, nose tip, mouth centre,
right ear tragion, left ear tragion, where "right" is the person's right (the
left one in an unmirrored image).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SCORE_CLIP = 100.0
NUM_KEYPOINTS = 6
KEYPOINT_NAMES = ("right_eye", "left_eye", "nose_tip", "mouth", "right_ear", "left_ear")


@dataclass(frozen=True)
class Decoded:
    """Detections in one coordinate frame: boxes (N, 4) as x0, y0, x1, y1; keypoints (N, 6, 2) as x, y; scores (N,)."""

    boxes: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)

    @staticmethod
    def empty() -> Decoded:
        return Decoded(np.zeros((0, 4), np.float32), np.zeros((0, NUM_KEYPOINTS, 2), np.float32), np.zeros(0, np.float32))

    @staticmethod
    def concat(parts: list[Decoded]) -> Decoded:
        if not parts:
            return Decoded.empty()
        return Decoded(
            np.concatenate([p.boxes for p in parts]),
            np.concatenate([p.keypoints for p in parts]),
            np.concatenate([p.scores for p in parts]),
        )


def scores_from_logits(logits: np.ndarray) -> np.ndarray:
    """Sigmoid of the clipped logits, float32."""
    clipped = np.clip(logits.astype(np.float32, copy=False), -SCORE_CLIP, SCORE_CLIP)
    with np.errstate(over="ignore"):  # exp(100) overflows float32 to inf, and 1 / (1 + inf) is the 0 wanted
        return (1.0 / (1.0 + np.exp(-clipped))).astype(np.float32)


def decode(regressors: np.ndarray, logits: np.ndarray, anchors: np.ndarray, input_size: int, min_score: float) -> Decoded:
    """The anchors scoring at least ``min_score``, in 0..1 coordinates of the model input.

    ``regressors`` is (N, 16), ``logits`` (N,) or (N, 1), ``anchors`` (N, 2) centres.
    Boxes whose decoded width or height is negative (the calculator drops them
    too) are dropped.
    """
    scores = scores_from_logits(logits.reshape(-1))
    keep = np.flatnonzero(scores >= min_score)
    if keep.size == 0:
        return Decoded.empty()
    raw = regressors[keep].astype(np.float32, copy=False) / np.float32(input_size)
    centres = anchors[keep]
    cx = raw[:, 0] + centres[:, 0]
    cy = raw[:, 1] + centres[:, 1]
    w, h = raw[:, 2], raw[:, 3]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    keypoints = raw[:, 4 : 4 + 2 * NUM_KEYPOINTS].reshape(-1, NUM_KEYPOINTS, 2) + centres[:, None, :]
    valid = (w >= 0) & (h >= 0)
    return Decoded(boxes[valid], keypoints[valid], scores[keep][valid])
