"""Paste a 48x48 FER face into a frame so that a face detector can see a head.

FER2013 crops are tight: forehead to chin, no outline of a head. Pasted bare
onto a background a detector rarely takes them for a face, so each one sits on
a head-sized, soft-edged ellipse a little darker than the face (hair and
shadow), tinted with a skin tone in colour scenes and left gray in gray ones.
Tone and hair belong to the person (the FER row), not to the place, so a new
person in the same place looks different in colour as people do.
The ground-truth face box is the pasted 48x48 square in frame pixels (what
FER2013 calls the face), before any roll: its centre is the head's centre and
its side the face size; the roll is recorded beside it.
"""

from __future__ import annotations

import cv2
import numpy as np

#: Skin tones (RGB, 0..1) for colour scenes, light to dark.
TONES: tuple[tuple[float, float, float], ...] = (
    (1.00, 0.86, 0.67), (0.88, 0.67, 0.41), (0.78, 0.53, 0.26), (0.55, 0.33, 0.14), (0.95, 0.76, 0.60),
)
GRAY = (0.85, 0.85, 0.85)
#: Hair colours (RGB, 0..1): black, dark brown, brown, blond, gray, auburn.
HAIR: tuple[tuple[float, float, float], ...] = (
    (0.08, 0.07, 0.06), (0.25, 0.16, 0.10), (0.45, 0.30, 0.18), (0.80, 0.68, 0.45), (0.62, 0.62, 0.60), (0.50, 0.22, 0.10),
)
HEAD = (0.62, 0.78)  # semi-axes of the head ellipse, in face sizes
REACH = 0.82  # how far (in face sizes) the head reaches from its centre, at any roll


def head_patch(
    face: np.ndarray, size: int, roll: float, tone: tuple[float, float, float], hair: tuple[float, float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """(RGB patch 0..255 float32, alpha 0..1) of a head whose face is ``size`` px, rotated by ``roll`` degrees.

    ``tone`` tints the gray FER face, ``hair`` fills the head around it (both RGB, 0..1).
    The patch is square, ``2 * pad`` wide with ``pad = ceil(REACH * size) + 2``, the face centred in it.
    Positive roll turns the head counter-clockwise on screen (OpenCV's convention).
    """
    pad = int(np.ceil(REACH * size)) + 2
    side = 2 * pad
    colour = np.asarray(tone, np.float32) * 255.0
    patch: np.ndarray = np.zeros((side, side, 3), np.float32)
    alpha: np.ndarray = np.zeros((side, side), np.float32)
    axes = (int(HEAD[0] * size), int(HEAD[1] * size))
    centre = (pad, pad - int(0.05 * size))
    cv2.ellipse(patch, centre, axes, 0, 0, 360, tuple(float(c) * 255.0 for c in hair), -1)
    cv2.ellipse(alpha, centre, axes, 0, 0, 360, 1.0, -1)
    scaled = cv2.resize(face, (size, size), interpolation=cv2.INTER_CUBIC if size > 48 else cv2.INTER_AREA)
    shaded = scaled.astype(np.float32)[..., None] / 255.0 * colour[None, None] * 1.15
    inner: np.ndarray = np.zeros((size, size), np.float32)
    cv2.ellipse(inner, (size // 2, size // 2), (size // 2, size // 2), 0, 0, 360, 1.0, -1)
    inner = cv2.GaussianBlur(inner, (0, 0), max(0.5, size * 0.06))
    x0 = pad - size // 2
    window = patch[x0 : x0 + size, x0 : x0 + size]
    patch[x0 : x0 + size, x0 : x0 + size] = window * (1 - inner[..., None]) + shaded * inner[..., None]
    alpha[x0 : x0 + size, x0 : x0 + size] = np.maximum(alpha[x0 : x0 + size, x0 : x0 + size], inner)
    alpha = cv2.GaussianBlur(alpha, (0, 0), max(0.7, size * 0.03))
    if roll:
        turn = cv2.getRotationMatrix2D((pad, pad), roll, 1.0)
        patch = cv2.warpAffine(patch, turn, (side, side), flags=cv2.INTER_LINEAR)
        alpha = cv2.warpAffine(alpha, turn, (side, side), flags=cv2.INTER_LINEAR)
    return np.clip(patch, 0, 255), alpha


def paste(frame: np.ndarray, patch: np.ndarray, alpha: np.ndarray, cx: float, cy: float) -> None:
    """Blend a head patch into ``frame`` (H, W, 3 float32) centred at (cx, cy); parts outside are cut off."""
    side = patch.shape[0]
    height, width = frame.shape[:2]
    x0, y0 = round(cx) - side // 2, round(cy) - side // 2
    xa, ya, xb, yb = max(0, x0), max(0, y0), min(width, x0 + side), min(height, y0 + side)
    if xa >= xb or ya >= yb:
        return
    a = alpha[ya - y0 : yb - y0, xa - x0 : xb - x0, None]
    frame[ya:yb, xa:xb] = frame[ya:yb, xa:xb] * (1 - a) + patch[ya - y0 : yb - y0, xa - x0 : xb - x0] * a


def face_box(cx: float, cy: float, size: int) -> list[float]:
    """The ground-truth face box [x, y, w, h] of a face of ``size`` px centred at (cx, cy)."""
    x0, y0 = round(cx) - size // 2, round(cy) - size // 2
    return [float(x0), float(y0), float(size), float(size)]
