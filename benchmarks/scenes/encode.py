"""Write RGB frames as H.264 MP4 with PyAV, reproducibly (x264 on one thread, no B-frames).

One thread and a fixed preset make the same frames give the same bytes, so a
regenerated benchmark is the same benchmark. No B-frames keeps decode order
equal to display order, which :func:`benchmarks.scenes.testclips.short_file`
relies on to cut a file's last frames away.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import av
import numpy as np


def write_mp4(path: Path, frames: Iterable[np.ndarray], fps: int, crf: int = 20, faststart: bool = False) -> int:
    """Encode ``frames`` (RGB uint8, all one size) to ``path``; returns the number written."""
    count = 0
    options = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), "w", format="mp4", options=options) as out:
        stream = None
        for image in frames:
            if stream is None:
                stream = out.add_stream("libx264", rate=fps)
                stream.height, stream.width = image.shape[:2]
                stream.pix_fmt = "yuv420p"
                stream.options = {"preset": "veryfast", "crf": str(crf), "g": str(2 * fps), "bf": "0", "threads": "1"}
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
            count += 1
        if stream is None:
            raise ValueError(f"{path}: no frames to write")
        for packet in stream.encode():
            out.mux(packet)
    return count
