"""A picture's size before it is decoded, for every format ``analyze`` hands to OpenCV.

Two locks, because OpenCV's ``imread`` decodes whatever its signature says,
whatever the file is called (a Radiance HDR named ``.png``):

- **OpenCV's own limit.** ``OPENCV_IO_MAX_IMAGE_PIXELS`` is read once, when
  ``cv2`` is loaded (a static of ``imgcodecs``), and checked after the header
  and before the pixels are allocated, for every format it reads.
  :func:`limit_opencv_pixels` sets it from ``--max-pixels`` or
  ``ingest.max_frame_pixels``, which works only before ``cv2`` is imported in
  the process (``analyze`` sets it first thing).
- **A header check** (:func:`picture_size`): Pillow for what it reads, and the
  text headers Pillow does not know here (Radiance HDR, PAM, PFM), so that the
  refusal names the size, and holds when ``cv2`` was already loaded.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

OPENCV_LIMIT = "OPENCV_IO_MAX_IMAGE_PIXELS"
HEAD_BYTES = 4096  # every text header below fits in this


def limit_opencv_pixels(max_pixels: int) -> bool:
    """Set OpenCV's pixel limit for this process; False if ``cv2`` is loaded already (then it keeps the limit it read)."""
    if "cv2" in sys.modules:
        return False
    os.environ[OPENCV_LIMIT] = str(max_pixels)
    return True


def picture_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from the header, without decoding; None if neither Pillow nor the text parsers can tell."""
    size = _pillow_size(path)
    if size is not None:
        return size
    try:
        with open(path, "rb") as file:
            head = file.read(HEAD_BYTES)
    except OSError:
        return None
    return _radiance_size(head) or _pam_size(head) or _pnm_size(head)


def _pillow_size(path: Path) -> tuple[int, int] | None:
    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = None  # the caller's limit replaces Pillow's bomb guard, whose error would hide the size
    try:
        with Image.open(path) as image:
            return int(image.size[0]), int(image.size[1])
    except (UnidentifiedImageError, OSError, ValueError):
        return None


def _radiance_size(head: bytes) -> tuple[int, int] | None:
    """Radiance RGBE: ``#?RADIANCE`` (or any ``#?``), header lines, a blank line, then ``-Y h +X w`` (or another orientation)."""
    if not head.startswith(b"#?"):
        return None
    _, blank, rest = head.partition(b"\n\n")
    match = re.match(rb"\s*([-+])([XY])\s+(\d+)\s+([-+])([XY])\s+(\d+)", rest) if blank else None
    if match is None or match.group(2) == match.group(5):
        return None
    first, second = int(match.group(3)), int(match.group(6))
    return (second, first) if match.group(2) == b"Y" else (first, second)


def _pam_size(head: bytes) -> tuple[int, int] | None:
    if not head.startswith(b"P7"):
        return None
    width = re.search(rb"^WIDTH\s+(\d+)", head, re.MULTILINE)
    height = re.search(rb"^HEIGHT\s+(\d+)", head, re.MULTILINE)
    return (int(width.group(1)), int(height.group(1))) if width and height else None


def _pnm_size(head: bytes) -> tuple[int, int] | None:
    """PBM, PGM, PPM (``P1``-``P6``) and PFM (``PF``, ``Pf``): magic, then width and height, with ``#`` comments allowed."""
    if len(head) < 2 or head[:1] != b"P" or head[1:2] not in b"123456Ff":
        return None
    text = re.sub(rb"#[^\n]*", b" ", head[2:])
    numbers = re.findall(rb"\d+", text[:200])
    return (int(numbers[0]), int(numbers[1])) if len(numbers) >= 2 else None
