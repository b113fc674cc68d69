"""Oversized pictures are refused before they are decoded; analyze names every face it found."""

from __future__ import annotations

import os
import re
import struct
import sys
import zlib
from pathlib import Path

import av
import cv2
import pytest

from emostream.config import parse_config
from emostream.ingest.errors import SourceError
from emostream.ingest.sources import VideoSource
from emostream.viewer.analyze import run
from tests.support.peak import run_with_peak

SIDE = 20_000  # 400 MP: 1.2 GB once decoded to BGR, from a file of about 0.4 MB


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_huge_png(path: Path, side: int) -> None:
    """A valid, complete greyscale PNG of side x side black pixels, compressed as it is written."""
    compressor = zlib.compressobj(9)
    row = bytes(side + 1)  # filter byte 0, then the pixels
    idat = bytearray()
    for _ in range(side):
        idat += compressor.compress(row)
    idat += compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", bytes(idat)) + png_chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def portrait(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from emostream.run.pipeline import demo_clip

    with av.open(str(demo_clip())) as clip:
        frame = next(clip.decode(video=0)).to_ndarray(format="bgr24")
    path = tmp_path_factory.mktemp("portrait") / "two_faces.jpg"
    cv2.imwrite(str(path), frame)
    return path


@pytest.mark.slow  # a real analyze process, with its model
def test_an_oversized_png_is_refused_with_bounded_memory_and_the_next_file_is_analysed(portrait: Path, tmp_path: Path) -> None:
    # Given a 400-megapixel PNG of under a megabyte, and a normal photo after it
    huge = tmp_path / "huge.png"
    write_huge_png(huge, SIDE)
    assert huge.stat().st_size < 2_000_000
    # When analyze runs on both in a child process, its peak memory measured
    code, peak_mb, out, err = run_with_peak(
        [sys.executable, "-m", "emostream", "analyze", str(huge), str(portrait), "--out", str(tmp_path / "out")],
        tmp_path, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    # Then the huge file gets one clear error naming its size and the limit, and no traceback
    assert code == 1, f"exit {code}; stderr: {err}"
    assert "huge.png" in err and "20000x20000" in err and "over the limit" in err, err
    assert "Traceback" not in err, err
    # And the photo after it is analysed, one printed line per face
    face_lines = [line for line in out.splitlines() if re.search(r"two_faces\.jpg face \d+: \w+ \d\.\d\d$", line)]
    assert len(face_lines) == 2, out
    # And memory stayed far below what decoding the picture takes
    # (measured: about 0.9 GB with the check, of which TensorFlow and MediaPipe take most; 4.3 GB without it)
    assert peak_mb < 2000, f"analyze peaked at {peak_mb:.0f} MB: the image was decoded"


def test_a_video_with_oversized_frames_is_refused(tmp_path: Path) -> None:
    from emostream.run.pipeline import demo_clip

    done, faces, errors = run([demo_clip()], tmp_path / "out", parse_config({}), max_pixels=10_000)
    assert (done, faces) == (0, 0)
    assert len(errors) == 1 and "over the limit" in errors[0] and "demo.mp4" in errors[0], errors


def test_ingest_refuses_a_source_whose_frames_are_too_large() -> None:
    from emostream.run.pipeline import demo_clip

    source = VideoSource(str(demo_clip()), live=False, max_pixels=10_000)
    with pytest.raises(SourceError) as raised:
        source.open()
    assert raised.value.kind == "too_large" and "max_frame_pixels" in str(raised.value)
    source = VideoSource(str(demo_clip()), live=False, max_pixels=10_000_000)
    source.open()
    try:
        assert next(iter(source.frames())).image.shape[:2] == (360, 640)
    finally:
        source.close()
