"""Where an analysed frame's time goes in the real ingest loop: one source, and N sources in one process.

A real :class:`~emostream.ingest.worker.IngestWorker` (file sources played as
fast as they decode, every frame analysed, detector and tracker included)
publishes to a private Redis with nothing consuming; ``ingest.backlog_max``
is raised so files never wait. It runs in this process with a
:class:`~emostream.ingest.stages.StageProfile`, which the source threads and
the publisher charge stage by stage (production passes the no-op clock).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.harness import Cluster
from benchmarks.markdown import num, table
from emostream.config import parse_config
from emostream.ingest.stages import StageProfile, Tally
from emostream.ingest.worker import IngestWorker
from emostream.streams.keys import Keys

STAGES = ("decode", "convert", "detect", "wait", "track", "crop", "encode", "publish", "admit")
PREFIX = "stages"


@dataclass(frozen=True)
class Profile:
    detector: str
    sources: int
    frames: int
    faces: int
    seconds: float  # the longest source thread's span, first decoded frame to last frame done
    wall: dict[str, float]  # ms per analysed frame, summed over the source threads; "rest" included
    cpu: dict[str, float]  # thread CPU ms per analysed frame, likewise
    load: tuple[float, float]

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0


def _per_frame(tallies: list[Tally], frames: int, which: int) -> dict[str, float]:
    """ms per frame of each stage, over every thread, and "rest": the source threads' spans less what their stages claimed.

    A source's decode thread (``ingest.decode_ahead``) charges decode, convert
    and detect on its own tally; its waits for the source thread are no stage
    and no rest (they overlap the source thread's work).
    """
    totals: dict[str, int] = {}
    span = claimed = 0
    for tally in tallies:
        for stage, ns in (tally.wall if which == 0 else tally.cpu).items():
            totals[stage] = totals.get(stage, 0) + ns
            claimed += ns if tally.frames else 0
        span += tally.span[which] if tally.frames else 0
    totals["rest"] = span - claimed
    return {stage: ns / 1e6 / max(frames, 1) for stage, ns in totals.items()}


def profile(clip: Path, sources: int, name: str, detector: dict[str, Any], workdir: Path, ingest: dict[str, Any] | None = None) -> Profile:
    """One run of a worker with ``sources`` copies of ``clip`` (``ingest``: settings beside the raised backlog)."""
    cluster = Cluster(workdir)
    client = cluster.start_redis()
    try:
        config = parse_config(
            {
                "redis": {"url": cluster.url, "prefix": PREFIX, "faces_maxlen": 10_000_000},
                "ingest": {"backlog_max": 100_000_000, **(ingest or {})},
                "detector": detector,
                "sources": [{"id": f"clip{i}", "url": str(clip), "live": False, "realtime": False} for i in range(sources)],
            },
            "stages",
        )
        stages = StageProfile()
        worker = IngestWorker(config, http_port=-1, stages=stages)
        load_start = os.getloadavg()[0]
        worker.serve()
        keys = Keys(PREFIX)
        faces = sum(int(client.xlen(shard)) for shard in keys.face_shards(config.redis.faces_shards))
        worker.client.close()
    finally:
        cluster.close()
    threads = stages.tallies()
    frames = sum(t.frames for t in threads)
    cpu = _per_frame(threads, frames, 1)
    # CPU spent outside the source threads: FFmpeg's frame-threaded decoders above all.
    cpu["other threads"] = max(0.0, stages.process_cpu_ns() / 1e6 / max(frames, 1) - sum(cpu.values()))
    seconds = max((t.span[0] for t in threads if t.frames), default=0) / 1e9
    return Profile(name, sources, frames, faces, seconds, _per_frame(threads, frames, 0), cpu, (load_start, os.getloadavg()[0]))


def _cells(per_frame: dict[str, float], columns: tuple[str, ...]) -> list[str]:
    total = sum(per_frame.values())
    return [f"{100 * per_frame.get(s, 0.0) / total:.0f}% ({per_frame.get(s, 0.0):.2f})" for s in columns]


def render(profiles: list[Profile]) -> str:
    heads = ["detector", "sources", "analysed frames/s", "faces/frame", "ms/frame", *STAGES, "rest"]
    wall = [
        (p.detector, p.sources, num(p.fps), f"{p.faces / max(p.frames, 1):.2f}", f"{sum(p.wall.values()):.2f}",
         *_cells(p.wall, (*STAGES, "rest")))
        for p in profiles
    ]
    cpu = [
        (p.detector, p.sources, num(p.fps), f"{p.faces / max(p.frames, 1):.2f}", f"{sum(p.cpu.values()):.2f}",
         *_cells(p.cpu, (*STAGES, "rest", "other threads")))
        for p in profiles
    ]
    loads = ", ".join(f"{p.detector} x{p.sources}: {p.load[0]:.1f}→{p.load[1]:.1f}" for p in profiles)
    return "\n".join(
        [
            "### Stage profile of the ingest loop",
            "",
            __doc__.split("\n\n", 1)[1].strip() if __doc__ else "",
            "",
            "Each cell: the stage's share of an analysed frame (its time in ms per frame). **decode**: reading and decoding "
            "(skipped frames included); **convert**: YUV to the detector's colour; **detect**: the detector's call; **track**: "
            "the tracker with its appearance descriptor; **crop**: cutting and resizing the faces; **encode**: face jobs to "
            "stream entries; **publish**: the MULTI/EXEC round trip with its checkpoint; **admit**: pacing and the backpressure "
            "probe; **rest**: the Python between them (metrics, bookkeeping, the face job objects). With N sources the times "
            "are summed over the source threads, so wall time includes waiting for the GIL and the cores.",
            "",
            "Wall time (per thread, `perf_counter`):",
            "",
            table(heads, wall),
            "",
            "CPU time (`thread_time` of the source threads; **other threads**: the rest of the process's CPU from the first "
            "frame to the last, mostly FFmpeg's frame-threaded decoding, so decode's CPU is its column plus this one; "
            "ms/frame: the whole process, Redis server not included):",
            "",
            table([*heads, "other threads"], cpu),
            "",
            f"1-min load average at the start → end of each run: {loads}. On a loaded machine the shares are the reliable "
            "figure; absolute frames/s must be re-measured on a quiet one.",
            "",
        ]
    )


def measure(clip: Path, detectors: dict[str, dict[str, Any]], counts: tuple[int, ...], workdir: Path) -> list[Profile]:
    profiles = []
    for name, detector in detectors.items():
        for sources in counts:
            profiles.append(profile(clip, sources, name, detector, workdir / f"{name.replace(' ', '-')}-{sources}"))
    return profiles
