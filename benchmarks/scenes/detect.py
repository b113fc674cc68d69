"""Detector-only mode: decode each clip, run ``emostream.detector`` on every frame, no Redis, no tracking.

For recall and false-positive sweeps while tuning detection: the same clips and
matching as the full benchmark, a fraction of its time. The detector is built
from a configuration's ``detector`` section (the defaults, or ``--config``), so
a setting can be tried before it is made the default.
"""

from __future__ import annotations

import time
from pathlib import Path

import av
import numpy as np

from benchmarks.scenes.evaluate import Report, Score, score_clip
from benchmarks.scenes.generate import load_truth


def decode(path: Path) -> list[np.ndarray]:
    """Every frame of a clip as RGB uint8."""
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def detect_clip(path: Path, detector: object) -> tuple[Score, float]:
    """The clip's score and the detector's frames per second (detection time only)."""
    from emostream.detector import Detector

    assert isinstance(detector, Detector)
    meta = load_truth(path)
    frames = decode(path)
    reports: list[list[Report]] = []
    spent = 0.0
    for rgb in frames:
        image = rgb if detector.colour == "rgb" else np.ascontiguousarray(rgb[:, :, ::-1])
        began = time.perf_counter()
        found = detector.detect_native(image)
        spent += time.perf_counter() - began
        reports.append([Report((d.x, d.y, d.w, d.h)) for d in found])
    reports += [[] for _ in range(meta["frames"] - len(reports))]  # frames that did not decode count as misses
    return score_clip(meta, reports, tracked=False), len(frames) / spent if spent else 0.0


def detect_all(paths: list[Path], config: Path | None = None) -> dict[str, tuple[Score, float]]:
    """Clip name -> (score, detection frames/s) for every clip, with one detector."""
    from emostream.config import load_config
    from emostream.detector import make_detector

    cfg = load_config(config)  # EMOSTREAM_DETECTOR__* variables apply: handy for sweeps
    with make_detector(cfg.detector) as detector:
        return {path.stem: detect_clip(path, detector) for path in paths}
