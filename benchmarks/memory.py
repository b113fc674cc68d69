"""Resident memory of each role on the demo clip: what a container of that role must be given.

Starts the three workers on the bundled clip against a private Redis, as
`emostream run` does, samples each process's resident set while the clip is
processed and reads its peak (``VmHWM``) once the session summary is written.
Also notes whether TensorFlow is mapped into the process: the serving roles
should never load it (docs/deploy.md), and it alone is about 500 MiB.
"""

from __future__ import annotations

import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.harness import Cluster, free_port, healthy, wait_until
from benchmarks.markdown import num, table, verdict
from emostream.run.pipeline import demo_clip

ROLES = {"ingest": "ingest", "classifier": "classify", "aggregator": "aggregate"}
TARGETS_MIB = {"ingest": 300, "classifier": 350}  # issue 11, CPU roles on the demo clip
TENSORFLOW_FILE = re.compile(r"/tensorflow/|/libtensorflow")
PREFIX = "bench-memory"


@dataclass(frozen=True)
class Row:
    role: str
    peak_mib: float | None
    end_mib: float | None
    tensorflow: bool | None


def status_mib(pid: int, field: str) -> float | None:
    """``VmRSS`` or ``VmHWM`` (peak) of a process, in MiB; None when it is gone."""
    try:
        match = re.search(rf"^{field}:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M)
    except OSError:
        return None
    return int(match.group(1)) / 1024 if match else None


def maps_tensorflow(pid: int) -> bool | None:
    try:
        return any(TENSORFLOW_FILE.search(line) for line in Path(f"/proc/{pid}/maps").read_text().splitlines())
    except OSError:
        return None


def measure(workdir: Path, timeout_s: float = 300.0) -> list[Row]:
    cluster = Cluster(workdir)
    try:
        cluster.start_redis()
        ports = {role: free_port() for role in ROLES}
        sessions = workdir / "sessions"
        config = cluster.config_file(
            "memory",
            {
                "redis": {"url": cluster.url, "prefix": PREFIX},
                "sources": [{"id": "demo", "url": str(demo_clip())}],
                "http": {f"{role}_port": port for role, port in ports.items()},
                "aggregator": {"summary_dir": str(sessions), "end_grace_s": 5},
                "ingest": {"exit_at_end": False},  # keep the process to read its peak after the clip
            },
        )
        for role, command in ROLES.items():
            cluster.spawn(role, config, command)
        wait_until(lambda: all(healthy(p) for p in ports.values()) or _exited(cluster), 180, "workers are up")
        cluster.check_running(*ROLES)
        deadline = time.monotonic() + timeout_s
        while not list(sessions.glob("*.json")):
            cluster.check_running(*ROLES)
            if time.monotonic() > deadline:
                raise TimeoutError(f"no session summary after {timeout_s:.0f} s")
            time.sleep(0.5)
        pids = {role: cluster.procs[role].pid for role in ROLES}
        return [Row(role, status_mib(pid, "VmHWM"), status_mib(pid, "VmRSS"), maps_tensorflow(pid)) for role, pid in pids.items()]
    finally:
        cluster.close()


def _exited(cluster: Cluster) -> bool:
    return any(proc.poll() is not None for proc in cluster.procs.values())


def render(rows: list[Row]) -> str:
    body = []
    targets = []
    for row in rows:
        target = TARGETS_MIB.get(row.role)
        tf = "—" if row.tensorflow is None else ("**yes**" if row.tensorflow else "no")
        body.append([row.role, num(row.peak_mib), num(row.end_mib), tf, f"< {target}" if target else "—"])
        if target:
            ok = row.peak_mib is not None and row.peak_mib < target
            targets.append(f"Target ({row.role} resident memory on the demo clip < {target} MiB): {verdict(ok)}, peak {num(row.peak_mib)} MiB.")
    lines = [
        "## Resident memory of each role",
        "",
        "Each worker process on the bundled demo clip (default configuration, CPU, `classifier.format: auto`), "
        "against a private Redis. Peak is the kernel's high-water mark of the resident set (`VmHWM`), read after the "
        "session summary was written; a container of that role needs at least that much, plus headroom for more sources.",
        "",
        table(["role", "peak RSS (MiB)", "RSS at the end (MiB)", "TensorFlow mapped", "target (MiB)"], body),
        "",
        *targets,
        "",
    ]
    return "\n".join(lines)


def run(quick: bool) -> str:
    with tempfile.TemporaryDirectory(prefix="emostream-bench-memory-") as workdir:
        return render(measure(Path(workdir)))
