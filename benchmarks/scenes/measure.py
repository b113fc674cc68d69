"""Measure one split end to end: every clip through the pipeline, scored; the faceless clips' false faces."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.scenes.evaluate import Score, score_clip
from benchmarks.scenes.faces import original_labels
from benchmarks.scenes.generate import CACHE, ensure, load_truth
from benchmarks.scenes.pipeline import Pipeline

log = logging.getLogger("benchmarks.scenes")


@dataclass
class ClipResult:
    name: str
    meta: dict[str, object]
    score: Score
    frames_per_s: float
    end_reason: str
    analysed: int  # frames the session summary counts as analysed


@dataclass
class SplitResult:
    split: str
    clips: list[ClipResult] = field(default_factory=list)
    seconds: float = 0.0

    def faceless(self) -> list[ClipResult]:
        return [c for c in self.clips if c.meta["faceless"]]

    def scenes(self) -> list[ClipResult]:
        return [c for c in self.clips if not c.meta["faceless"]]

    def total(self, clips: list[ClipResult]) -> Score:
        out = Score()
        for clip in clips:
            out = out.merge(clip.score)
        return out


def measure_split(split: str, paths: list[Path] | None = None, config: dict[str, Any] | None = None) -> SplitResult:
    """Generate (if needed) and run every clip of ``split`` through the pipeline, one at a time."""
    began = time.monotonic()
    result = SplitResult(split)
    paths = paths or ensure(split)  # before the workers start: generating takes a while
    originals = original_labels(split, CACHE)
    with Pipeline(config) as pipeline:
        for path in paths:
            meta = load_truth(path)
            source = f"{split}-{path.stem}"
            published = pipeline.run_clip(path, source, float(meta["fps"]), int(meta["frames"]))
            score = score_clip(meta, published.reports, tracked=True, originals=originals)
            analysed = int(published.summary.get("frames", {}).get("analysed", 0))
            reason = str(published.summary.get("end_reason"))
            result.clips.append(ClipResult(path.stem, meta, score, published.frames_per_s, reason, analysed))
            log.info("scenes: %s %s: recall %s, false faces %d", split, path.stem, score.recall(), score.false_faces)
    result.seconds = time.monotonic() - began
    return result
