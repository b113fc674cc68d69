"""Crops follow the model card's input size and colour."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from emostream.detector.crop import crop_face, expand
from emostream.infra.modelcard import load_card


def test_expand_adds_margin_makes_square_and_clips() -> None:
    assert expand((100, 100, 40, 60), 0.0, 640, 360) == (90, 100, 60, 60)
    x, y, w, h = expand((100, 100, 50, 50), 0.2, 640, 360)
    assert (w, h) == (70, 70) and (x, y) == (90, 90)
    assert expand((0, 0, 50, 50), 0.5, 640, 360)[:2] == (0, 0), "a box at the corner must be clipped to the frame"


def test_crop_has_the_cards_size_and_colour() -> None:
    card = load_card("mini-xception")
    frame = np.zeros((360, 640, 3), np.uint8)
    frame[100:200, 100:200] = (0, 0, 255)  # red in BGR
    gray = crop_face(frame, (100, 100, 100, 100), card, margin=0.0)
    assert gray.shape == (64, 64, 1) and gray.dtype == np.uint8
    assert abs(int(gray.mean()) - 76) <= 1, "BGR red should become gray level 76 (ITU-R 601 luma)"
    rgb = crop_face(frame, (100, 100, 100, 100), replace(card, color="rgb", width=32, height=32), margin=0.0)
    assert rgb.shape == (32, 32, 3)
    assert rgb[16, 16].tolist() == [255, 0, 0], "an RGB crop must have the channels swapped"
