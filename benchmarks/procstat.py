"""CPU use of processes and of the machine, read from ``/proc`` (Linux).

Read directly rather than through psutil: three numbers per process are all
the benchmarks need, and it keeps the benchmark free of extra dependencies.
On systems without ``/proc`` every reading is ``None`` and the report says so.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from emostream.infra.redact import redact

PROC = Path("/proc")
TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces: split after the last ")".
    return text[text.rfind(")") + 2 :].split()


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU seconds of one process (its threads included) so far."""
    fields = _stat_fields(pid)
    if fields is None:
        return None
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / TICK


def machine_busy_ticks() -> tuple[int, int] | None:
    """(busy, total) CPU ticks of the whole machine since boot, from /proc/stat."""
    try:
        first = (PROC / "stat").read_text().splitlines()[0].split()
    except OSError:
        return None
    values = [int(v) for v in first[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    total = sum(values[:8])  # guest time is already inside user time
    return total - idle, total


class CpuMeter:
    """CPU use of given processes between :meth:`start` and :meth:`stop`, in cores (1.0 = one core busy)."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self._start: dict[str, float | None] = {}
        self._last: dict[str, float | None] = {}
        self._began = 0.0
        self._machine: tuple[int, int] | None = None
        self.cores: dict[str, float | None] = {}
        self.machine_busy: float | None = None  # share of all cores busy, 0..1
        self.seconds = 0.0

    def start(self) -> CpuMeter:
        self._start = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        self._last = dict(self._start)
        self._machine = machine_busy_ticks()
        self._began = time.monotonic()
        return self

    def sample(self) -> None:
        """Remember each process's CPU time now, so one that exits before :meth:`stop` is still counted."""
        for name, pid in self.pids.items():
            value = cpu_seconds(pid)
            if value is not None:
                self._last[name] = value

    def stop(self) -> CpuMeter:
        self.seconds = max(time.monotonic() - self._began, 1e-6)
        self.sample()
        for name in self.pids:
            before, after = self._start.get(name), self._last.get(name)
            self.cores[name] = None if before is None or after is None else (after - before) / self.seconds
        end = machine_busy_ticks()
        if self._machine and end and end[1] > self._machine[1]:
            self.machine_busy = (end[0] - self._machine[0]) / (end[1] - self._machine[1])
        return self


@dataclass(frozen=True)
class BusyProcess:
    pid: int
    command: str
    cores: float


def _command(pid: int) -> str:
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return "?"
    text = raw.replace(b"\0", b" ").decode(errors="replace").strip()
    return redact(text)[:90] or "?"


def busy_processes(sample_s: float = 1.0, min_cores: float = 0.1, exclude: int | None = None) -> list[BusyProcess]:
    """Processes using at least ``min_cores`` over ``sample_s``: the background load beside a benchmark."""
    if not PROC.is_dir():
        return []
    pids = [int(p.name) for p in PROC.iterdir() if p.name.isdigit() and int(p.name) != exclude]
    before = {pid: cpu_seconds(pid) for pid in pids}
    time.sleep(sample_s)
    busy = []
    for pid, start in before.items():
        end = cpu_seconds(pid)
        if start is None or end is None:
            continue
        cores = (end - start) / sample_s
        if cores >= min_cores:
            busy.append(BusyProcess(pid, _command(pid), cores))
    return sorted(busy, key=lambda b: -b.cores)
