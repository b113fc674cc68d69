"""Where an analysed frame's time goes in the real ingest loop: one source, and N sources in one process.

A real :class:`~emostream.ingest.worker.IngestWorker` (file sources played as
fast as they decode, every frame analysed, detector and tracker included)
publishes to a private Redis with nothing consuming; ``ingest.backlog_max``
is raised so files never wait. It runs in this process with a
:class:`~emostream.ingest.stages.StageProfile`, which every ingest thread
charges stage by stage (production passes the no-op clock): a source's thread,
its decode thread (``ingest.decode_ahead``), the worker's detection threads
(``ingest.detect_threads``, one per core by default: "overlapped, detection
threads") and its writer (``ingest.publish_behind``). "Decode thread detects"
rows set ``detect_threads: 1``: each file's decode thread runs the detector on
its own frames, one after another, as before the detection threads. "One
thread" rows turn all of it off (``decode_ahead: 0, publish_behind: 0``):
every stage on the source's thread, as before issue 25.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.harness import Cluster
from benchmarks.markdown import num, table, verdict
from emostream.config import parse_config
from emostream.ingest.stages import StageProfile, Tally
from emostream.ingest.worker import IngestWorker
from emostream.streams.keys import Keys

STAGES = ("decode", "convert", "detect", "track", "crop", "encode", "publish", "admit")
PREFIX = "stages"
ONE_THREAD = {"decode_ahead": 0, "publish_behind": 0}
KINDS = ("source", "decode", "detect", "writer")  # the threads of a worker, as the stages they charge tell them apart


@dataclass(frozen=True)
class Run:
    """What to measure: a clip, a detector and the sources' threads."""

    detector: str
    settings: dict[str, Any]
    sources: int
    one_thread: bool = False
    ingest: tuple[tuple[str, Any], ...] = ()  # ingest section values beyond the bench's own (detect_threads, ...)

    @property
    def threads(self) -> str:
        if self.one_thread:
            return "one thread"
        return "overlapped, decode thread detects" if dict(self.ingest).get("detect_threads") == 1 else "overlapped, detection threads"


@dataclass(frozen=True)
class Profile:
    run: Run
    size: str
    frames: int
    faces: int
    seconds: float  # the longest source thread's span, first decoded frame to last frame done
    cpu: dict[str, float]  # CPU ms per analysed frame of each stage, over every thread; "rest" and "other threads" included
    busy: dict[str, float]  # per kind of thread: the share of the run its threads were working, on average (0..1)
    top: dict[str, str]  # per kind of thread: its largest stage
    cores: float  # the process's CPU over the run / its wall time
    load: tuple[float, float]

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0

    @property
    def faces_s(self) -> float:
        return self.faces / self.seconds if self.seconds else 0.0

    def bound(self) -> str:
        """All cores busy, or the kind of thread that works the largest share of the run (and its largest stage)."""
        if self.cores >= 0.9 * (os.cpu_count() or 1):
            return "all cores busy"
        kind = max(self.busy, key=lambda k: self.busy[k])
        return f"{kind} thread {100 * self.busy[kind]:.0f}% busy ({self.top[kind]})"


def kind_of(tally: Tally) -> str:
    if tally.frames:
        return "source"
    if "decode" in tally.wall:
        return "decode"
    return "detect" if "detect" in tally.wall else "writer"  # a detection pool's thread (ingest.detect_threads) charges detect alone


def _cpu_per_frame(tallies: list[Tally], frames: int) -> dict[str, float]:
    """CPU ms per frame of each stage over every thread, and "rest": the source threads' spans less what their stages claimed.

    A decode thread's or the writer's waits for the source threads are no stage
    and no rest: they overlap the source threads' work.
    """
    totals: dict[str, int] = {}
    span = claimed = 0
    for tally in tallies:
        for stage, ns in tally.cpu.items():
            totals[stage] = totals.get(stage, 0) + ns
            claimed += ns if tally.frames else 0
        span += tally.span[1] if tally.frames else 0
    totals["rest"] = span - claimed
    return {stage: ns / 1e6 / max(frames, 1) for stage, ns in totals.items()}


def _busy(tallies: list[Tally], seconds: float) -> tuple[dict[str, float], dict[str, str]]:
    """Per kind of thread: the share of the run its threads spent working (waits for each other excluded), and its top stage."""
    busy: dict[str, float] = {}
    top: dict[str, str] = {}
    for kind in KINDS:
        mine = [t for t in tallies if kind_of(t) == kind]
        if not mine or not seconds:
            continue
        work = sum((t.span[0] if t.frames else sum(t.wall.values())) - t.wall.get("wait", 0) for t in mine)
        busy[kind] = work / 1e9 / (len(mine) * seconds)
        stages: dict[str, int] = {}
        for t in mine:
            for stage, ns in t.wall.items():
                stages[stage] = stages.get(stage, 0) + (ns if stage != "wait" else 0)
        top[kind] = max(stages, key=lambda s: stages[s])
    return busy, top


def profile(clip: Path, size: str, run: Run, workdir: Path) -> Profile:
    """One run of a worker with ``run.sources`` copies of ``clip``."""
    cluster = Cluster(workdir)
    client = cluster.start_redis()
    try:
        config = parse_config(
            {
                "redis": {"url": cluster.url, "prefix": PREFIX, "faces_maxlen": 10_000_000},
                "ingest": {"backlog_max": 100_000_000, **(ONE_THREAD if run.one_thread else {}), **dict(run.ingest)},
                "detector": run.settings,
                "sources": [{"id": f"clip{i}", "url": str(clip), "live": False, "realtime": False} for i in range(run.sources)],
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
    cpu = _cpu_per_frame(threads, frames)
    cpu["rest"] += cpu.pop("wait", 0.0)  # the CPU of waiting for another thread is glue, like the rest
    process_ms = stages.process_cpu_ns() / 1e6
    # CPU spent outside the stages of the ingest threads: FFmpeg's frame-threaded decoders above all.
    cpu["other threads"] = max(0.0, process_ms / max(frames, 1) - sum(cpu.values()))
    seconds = max((t.span[0] for t in threads if t.frames), default=0) / 1e9
    busy, top = _busy(threads, seconds)
    cores = process_ms / 1e3 / seconds if seconds else 0.0
    return Profile(run, size, frames, faces, seconds, cpu, busy, top, cores, (load_start, os.getloadavg()[0]))


def _cells(per_frame: dict[str, float], columns: tuple[str, ...]) -> list[str]:
    total = sum(per_frame.values())
    return [f"{100 * per_frame.get(s, 0.0) / total:.0f}% ({per_frame.get(s, 0.0):.2f})" for s in columns]


TARGET_FPS = 300  # issue 25: one 640x480 source at file speed, analysed frames/s
TARGET_FACES_S = 1_800  # issue 25: one ingest process with 9 sources, faces/s


def targets(profiles: list[Profile]) -> list[str]:
    """Issue 25's two targets, judged on the default configuration's rows (short range where there is none), the others beside."""
    lines = []
    for sources, what, value, target, unit in ((1, "one 640×480 source at file speed", "fps", TARGET_FPS, "analysed frames/s"),
                                               (9, "one ingest process with 9 sources", "faces_s", TARGET_FACES_S, "faces/s")):
        rows = {f"{p.run.detector}{', decode thread detects' if p.run.ingest else ''}": p
                for p in profiles if p.size == "640x480" and p.run.sources == sources and not p.run.one_thread}
        judged = next((p for name, p in rows.items() if "(default)" in name and not p.run.ingest), None) or next(
            (p for name, p in rows.items() if "short" in name and "blazeface" in name), None)
        if judged is None:
            continue
        got = getattr(judged, value)
        others = ", ".join(f"{name} {num(getattr(p, value))}" for name, p in rows.items() if p is not judged)
        lines.append(
            f"Target (issue 25: {what}, ≥ {target:,} {unit}): {verdict(got >= target)}, {num(got)} with {judged.run.detector}"
            f"{'; ' + others if others else ''} (1-min load {judged.load[0]:.1f}→{judged.load[1]:.1f}, {judged.cores:.2f} cores used)."
        )
    return lines


def render(profiles: list[Profile]) -> str:
    def head(p: Profile) -> list[object]:
        return [p.size, p.run.detector, p.run.sources, p.run.threads]

    rates = [
        (*head(p), num(p.fps), num(p.faces_s), f"{p.faces / max(p.frames, 1):.2f}", f"{p.cores:.2f}", num(p.fps / p.cores if p.cores else None),
         p.bound())
        for p in profiles
    ]
    cpu = [(*head(p), f"{sum(p.cpu.values()):.2f}", *_cells(p.cpu, (*STAGES, "rest", "other threads"))) for p in profiles]
    loads = ", ".join(f"{p.size} {p.run.detector} x{p.run.sources} {p.run.threads}: {p.load[0]:.1f}→{p.load[1]:.1f}" for p in profiles)
    return "\n".join(
        [
            "### Stage profile of the ingest loop",
            "",
            __doc__.split("\n\n", 1)[1].strip() if __doc__ else "",
            "",
            "**cores used**: the process's CPU time over the run's wall time (Redis not included); **frames/s per core**: "
            "analysed frames/s divided by it. **Bound by**: *all cores busy* when the process used at least 90% of the machine's "
            "cores; otherwise the kind of thread that spent the largest share of the run working (its waits for the others "
            "excluded), with its largest stage: the one to make cheaper (or to run more of) for that row to go faster.",
            "",
            table(["frame size", "detector", "sources", "threads", "analysed frames/s", "faces/s", "faces/frame", "cores used",
                   "frames/s per core", "bound by"], rates),
            "",
            "CPU per analysed frame, by stage (`thread_time` of every ingest thread; each cell: the share of the frame's CPU and "
            "ms). **decode**: reading and decoding on the thread that iterates the file (FFmpeg's own frame threads are in "
            "**other threads**); **convert**: YUV to the detector's colour; **detect**: the detector's call; **track**: the tracker "
            "with its appearance descriptor; **crop**: cutting and resizing the faces; **encode**: face jobs to stream entries; "
            "**publish**: the MULTI/EXEC round trip with its checkpoint; **admit**: pacing and the backpressure probe; **rest**: "
            "the Python between them on the source thread (metrics, bookkeeping, the face job objects); **other threads**: the "
            "process's CPU from the first frame to the last less all of the above (FFmpeg's threads, the hand-overs between "
            "threads). CPU times are the stable figure on a loaded machine; frames/s is not.",
            "",
            table(["frame size", "detector", "sources", "threads", "ms/frame", *STAGES, "rest", "other threads"], cpu),
            "",
            f"1-min load average at the start → end of each run: {loads}.",
            "",
            *[line + "\n" for line in targets(profiles)],
        ]
    )


def measure(clips: dict[str, Path], runs: list[tuple[str, Run]], workdir: Path) -> list[Profile]:
    """Each (size, run), its clip from ``clips`` by size."""
    out = []
    for i, (size, run) in enumerate(runs):
        out.append(profile(clips[size], size, run, workdir / f"run{i}"))
    return out
