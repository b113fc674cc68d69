"""Run the real pipeline on each clip and read back what it published.

Only public interfaces: the roles are started as a deployment starts them
(``python -m emostream --config FILE ROLE``, via :class:`benchmarks.harness.Cluster`)
on a private Redis on a free loopback port; each clip is one file source of its
own ingest run (so its frames/s is one source's, alone); the results are read
from the public streams, ``<prefix>:events:<source>`` and ``<prefix>:sessions``.
Files are analysed frame by frame (``every_nth: 1``, the default), so the
event's ``frame.pts`` times the clip's fps is the ground-truth frame index.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from benchmarks.harness import Cluster, wait_until
from benchmarks.scenes.evaluate import Report

PREFIX = "scenes"


@dataclass
class Published:
    """One clip's run: the faces reported per frame and the session summary."""

    reports: list[list[Report]]
    summary: dict[str, Any]

    @property
    def frames_per_s(self) -> float:
        analysed = self.summary["frames"]["analysed"]
        return float(analysed / self.summary["duration_s"]) if self.summary.get("duration_s") else 0.0


def _entries(client: redis.Redis, stream: str) -> list[dict[str, Any]]:
    entries: Any = client.xrange(stream)
    return [json.loads(fields[b"data"]) for _, fields in entries]


def _summary(client: redis.Redis, source: str) -> dict[str, Any] | None:
    return next((s for s in _entries(client, f"{PREFIX}:sessions") if s.get("source") == source), None)


class Pipeline:
    """Classifier and aggregator kept running; one ingest run per clip."""

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="emostream-scenes-"))
        self.cluster = Cluster(self.workdir)
        self.user = config or {}

    def __enter__(self) -> Pipeline:
        self.client = self.cluster.start_redis()
        self.base = {
            **self.user,
            "redis": {**self.user.get("redis", {}), "url": self.cluster.url, "prefix": PREFIX},
            "http": {"ingest_port": 0, "classifier_port": 0, "aggregator_port": 0},
            "aggregator": {**self.user.get("aggregator", {}), "summary_dir": str(self.workdir / "sessions"), "end_grace_s": 10.0},
        }
        shared = self.cluster.config_file("roles", self.base)
        self.cluster.spawn("classifier", shared, "classify")
        self.cluster.spawn("aggregator", shared, "aggregate")
        return self

    def __exit__(self, *exc: object) -> None:
        self.cluster.close()
        if exc[0] is None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def run_clip(self, path: Path, source: str, fps: float, frames: int) -> Published:
        """Play one file through ingest and collect its events once its session summary is out."""
        config = self.cluster.config_file(f"ingest-{source}", {**self.base, "sources": [{"id": source, "url": str(path)}]})
        ingest = self.cluster.spawn(f"ingest-{source}", config, "ingest")
        wait_until(lambda: ingest.poll() is not None, 600, f"ingest of {source} ends")
        self.cluster.check_running("classifier", "aggregator")
        summary: dict[str, Any] = {}

        def summarised() -> bool:
            found = _summary(self.client, source)
            summary.update(found or {})
            return found is not None

        wait_until(summarised, 60, f"the session summary of {source}")
        reports: list[list[Report]] = [[] for _ in range(frames)]
        for event in _entries(self.client, f"{PREFIX}:events:{source}"):
            index = round(float(event["frame"]["pts"]) * fps)
            box = event["face"]["box"]
            if 0 <= index < frames:
                reports[index].append(Report((box["x"], box["y"], box["w"], box["h"]), int(event["face"]["track_id"]), event["emotion"]["label"]))
        return Published(reports, summary)


def settle() -> None:
    """A moment between clips so that one clip's tail does not share the CPU with the next one's start."""
    time.sleep(0.2)
