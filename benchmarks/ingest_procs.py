"""N file sources in one ingest role, run by one process or by ``ingest.processes`` children: do they use the cores?

One ``emostream ingest`` process runs a thread per source, a decode thread
per file (``ingest.decode_ahead``) and one writer; decoding, colour
conversion, the detector's model and Redis I/O release the GIL, tracking and
the Python between stages do not. The same sources are run by one
``emostream ingest`` role with ``ingest.processes`` 1 and N (its children
dividing the sources), against a private Redis with nothing consuming.
Analysed frames and faces come from the sessions' end messages; the time
from the first session start to the last session end (lifecycle entry ids),
so start-up and model loading are not counted; CPU from ``/proc`` over the
same stretch (the role's processes, Redis not included).

    python -m benchmarks.ingest_procs [SOURCES] [PROCESSES,...]   # default 9 sources, processes 1,2
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.harness import Cluster, stream_entries, wait_until
from benchmarks.markdown import num, table
from benchmarks.procstat import cpu_seconds
from emostream.streams.keys import Keys
from emostream.streams.lifecycle import SessionEnd, SessionStart, decode_lifecycle

PREFIX = "procs"


@dataclass(frozen=True)
class Split:
    sources: int
    processes: int
    frames: int
    faces: int
    seconds: float
    cores: float  # CPU seconds of the workers over the run / its wall time
    load: tuple[float, float]

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0

    @property
    def faces_s(self) -> float:
        return self.faces / self.seconds if self.seconds else 0.0


def _ms(entry_id: bytes) -> int:
    return int(entry_id.split(b"-")[0])


def tree_cpu(pid: int, last: dict[int, float]) -> None:
    """Update ``last`` with the CPU seconds of ``pid`` and its children (an exited one keeps its last reading)."""
    pids = [pid]
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            pids += [int(c) for c in (task / "children").read_text().split()]
    except OSError:
        pass
    last.update({p: cpu for p in pids if (cpu := cpu_seconds(p)) is not None})


def run_split(clip: Path, sources: int, processes: int, detector: dict[str, Any], workdir: Path) -> Split:
    """``sources`` copies of ``clip`` run by one ingest role with ``ingest.processes`` ``processes``."""
    cluster = Cluster(workdir)
    client = cluster.start_redis()
    keys = Keys(PREFIX)
    ids = [f"clip{i}" for i in range(sources)]
    load_start = os.getloadavg()[0]
    try:
        config = cluster.config_file(
            "ingest",
            {
                "redis": {"url": cluster.url, "prefix": PREFIX, "faces_maxlen": 10_000_000},
                "http": {"ingest_port": 0},
                "ingest": {"backlog_max": 100_000_000, "name": "bench", "control": False, "processes": processes},
                "detector": detector,
                "sources": [{"id": i, "url": str(clip), "live": False, "realtime": False} for i in ids],
            },
        )
        procs = [cluster.spawn("ingest", config, "ingest")]

        def lifecycle() -> list[tuple[bytes, object]]:
            return [(eid, decode_lifecycle(fields)) for eid, fields in stream_entries(client, keys.lifecycle)]

        wait_until(lambda: any(isinstance(m, SessionStart) for _, m in lifecycle()), 300, "a session started")
        first: dict[int, float] = {}
        tree_cpu(procs[0].pid, first)
        last, wall0 = dict(first), time.monotonic()

        def ended() -> bool:  # reads the role's CPU while it runs: an exited process has no /proc entry
            tree_cpu(procs[0].pid, last)
            return sum(isinstance(m, SessionEnd) for _, m in lifecycle()) >= sources or any(p.poll() not in (None, 0) for p in procs)

        wait_until(ended, 900, f"{sources} sources ended")
        busy, wall = sum(last.values()) - sum(first.get(p, 0.0) for p in last), time.monotonic() - wall0
        for p, proc in enumerate(procs):
            if proc.poll() not in (None, 0):
                raise RuntimeError(f"ingest{p} exited with code {proc.returncode}:\n{cluster.log_tail(f'ingest{p}')}")
        messages = lifecycle()
        starts = [_ms(eid) for eid, m in messages if isinstance(m, SessionStart)]
        ends = [(eid, m) for eid, m in messages if isinstance(m, SessionEnd)]
        seconds = (max(_ms(eid) for eid, _ in ends) - min(starts)) / 1000.0
        frames = sum(m.frames_analysed for _, m in ends)
        faces = sum(m.faces for _, m in ends)
        return Split(sources, processes, frames, faces, seconds, busy / max(wall, 1e-9), (load_start, os.getloadavg()[0]))
    finally:
        cluster.close()


def render(rows: list[tuple[str, Split]]) -> str:
    body = [
        (name, s.sources, s.processes, num(s.fps), num(s.faces_s), f"{s.faces / max(s.frames, 1):.2f}", f"{s.cores:.2f}",
         f"{s.load[0]:.1f}→{s.load[1]:.1f}")
        for name, s in rows
    ]
    return "\n".join(
        [
            "### N sources: one process or several (`ingest.processes`)",
            "",
            __doc__.split("\n\n")[1].strip() if __doc__ else "",
            "",
            table(["detector", "sources", "processes", "analysed frames/s", "faces/s", "faces/frame", "cores used", "1-min load"], body),
            "",
        ]
    )


def measure(clip: Path, detectors: dict[str, dict[str, Any]], sources: int, counts: tuple[int, ...], workdir: Path) -> list[tuple[str, Split]]:
    return [
        (name, run_split(clip, sources, processes, settings, workdir / f"{name.replace(' ', '-')}-{processes}"))
        for name, settings in detectors.items()
        for processes in counts
    ]


if __name__ == "__main__":
    import sys
    import tempfile

    from benchmarks.ingest import DEFAULT, demo_clip, make_clip  # DEFAULT: the detector as configured by default

    count = int(sys.argv[1]) if len(sys.argv) > 1 else 9
    splits = tuple(int(n) for n in sys.argv[2].split(",")) if len(sys.argv) > 2 else (1, 2)
    with tempfile.TemporaryDirectory(prefix="emostream-bench-procs-") as folder:
        clip = make_clip(demo_clip(), Path(folder) / "clip.mp4", 640, 480, repeat=2)  # as the stage profile's 640x480 clip
        print(render(measure(clip, {DEFAULT: {}}, count, splits, Path(folder))))
