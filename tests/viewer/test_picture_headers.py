"""Pictures over the pixel limit are refused before decoding whatever their format (and whatever they are called)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from emostream.config import parse_config
from emostream.ingest.errors import SourceError
from emostream.ingest.sources import VideoSource
from emostream.viewer.analyze import run
from emostream.viewer.headers import picture_size
from tests.support.peak import run_with_peak

SIDE = 12_000  # 144 MP: over the default ingest.max_frame_pixels (100 MP); 1.7 GB as floats once decoded


def write_radiance(path: Path, width: int, height: int) -> None:
    """A complete Radiance RGBE picture of one grey, run-length encoded: about 64 bytes per 1000 pixels of a row."""
    row = bytearray([2, 2, width >> 8, width & 255])
    for value in (128, 128, 128, 129):
        left = width
        while left:
            run_length = min(127, left)
            row += bytes([128 + run_length, value])
            left -= run_length
    with open(path, "wb") as out:
        out.write(b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y %d +X %d\n" % (height, width))
        for _ in range(height):
            out.write(row)


HEADERS = {
    "pam.png": b"P7\nWIDTH 12000\nHEIGHT 9000\nDEPTH 3\nMAXVAL 255\nTUPLTYPE RGB\nENDHDR\n",
    "pfm.jpg": b"PF\n12000 9000\n-1.0\n",
    "ppm.ppm": b"P6\n# made by hand\n12000 9000\n255\n",
    "hdr.png": b"#?RGBE\nFORMAT=32-bit_rle_rgbe\nEXPOSURE=1\n\n-Y 9000 +X 12000\n",
}


@pytest.mark.parametrize("name", list(HEADERS))
def test_the_size_is_read_from_the_header_of_formats_pillow_does_not_know(name: str, tmp_path: Path) -> None:
    path = tmp_path / name
    path.write_bytes(HEADERS[name] + bytes(64))
    assert picture_size(path) == (12000, 9000)


def test_truncated_pictures_claiming_a_huge_size_are_refused_naming_their_size(tmp_path: Path) -> None:
    names = ["pam.png", "pfm.jpg", "hdr.png"]
    for name in names:
        (tmp_path / name).write_bytes(HEADERS[name] + bytes(64))
    done, _, errors = run([tmp_path / n for n in names], tmp_path / "out", parse_config({}), max_pixels=1_000_000)
    assert done == 0 and len(errors) == 3, errors
    assert all("12000x9000" in e and "over the limit" in e for e in errors), errors


def test_opencv_reads_its_limit_from_the_environment_before_it_loads(tmp_path: Path) -> None:
    path = tmp_path / "grey.png"  # a Radiance picture under a PNG name: OpenCV goes by the signature
    write_radiance(path, 2000, 1000)
    script = ("from emostream.viewer.headers import limit_opencv_pixels; assert limit_opencv_pixels(1_000_000)\n"
              f"import cv2\ntry:\n    cv2.imread({str(path)!r})\nexcept cv2.error as exc:\n    print('refused', 'CV_IO_MAX_IMAGE' in str(exc))\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env={**os.environ})
    assert out.stdout.strip() == "refused True", out.stdout + out.stderr


def test_ingest_refuses_a_radiance_picture_under_a_png_name_before_decoding(tmp_path: Path) -> None:
    path = tmp_path / "frame.png"
    write_radiance(path, 4000, 3000)
    source = VideoSource(str(path), live=False, max_pixels=1_000_000)
    with pytest.raises(SourceError) as raised:
        source.open()
    assert raised.value.kind == "too_large" and "4000x3000" in str(raised.value)


@pytest.mark.slow  # a real analyze process, with its model
def test_a_huge_radiance_picture_named_png_is_refused_by_analyze_with_bounded_memory(tmp_path: Path) -> None:
    # Given a complete 12000x12000 Radiance picture of about 9 MB, named .png (Pillow cannot read it)
    huge = tmp_path / "huge.png"
    write_radiance(huge, SIDE, SIDE)
    # When analyze runs on it with the default limit (ingest.max_frame_pixels, 100 MP), its peak memory measured
    code, peak_mb, _, err = run_with_peak([sys.executable, "-m", "emostream", "analyze", str(huge), "--out", str(tmp_path / "out")],
                                          tmp_path, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    # Then it is refused with its size and the limit, and memory stayed far below what decoding takes
    # (measured: 213 MB with the check; 2272 MB before it, when OpenCV decoded the picture first)
    assert code == 1 and "12000x12000" in err and "over the limit" in err and "Traceback" not in err, f"exit {code}: {err}"
    assert peak_mb < 800, f"analyze peaked at {peak_mb:.0f} MB: the picture was decoded"
