"""What the benchmark ran on, and how busy the machine was while it ran.

Numbers from a shared or loaded machine mean little without the load beside
them, so the page records the load average and the other busy processes, not
only the hardware.
"""

from __future__ import annotations

import os
import platform
import subprocess
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from benchmarks import ROOT
from benchmarks.markdown import table
from benchmarks.procstat import busy_processes, machine_busy_ticks
from emostream.infra.cpufeatures import usable_cores


def _cpuinfo_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpu_flags() -> str:
    """The SIMD extensions that decide how fast the kernels go, and whether int8 is the fast path here.

    The same reading the classifier uses to choose between int8 and float TFLite files
    (:mod:`emostream.infra.cpufeatures`), so the page says what the service chose on this machine.
    """
    from emostream.infra.cpufeatures import describe as describe_cpu

    return describe_cpu()


def cpu_kind() -> str:
    """A few words for each section's line: the CPU and the extensions that split the figures (AVX-512, VNNI, AVX2).

    Sections are re-measured one at a time, sometimes on different machines, so each says which kind it ran on.
    """
    from emostream.infra.cpufeatures import cpu_flags, fast_int8

    flags = cpu_flags()
    simd = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    int8 = "with" if fast_int8(flags) else "without"
    return f"{_cpuinfo_model()}, {simd}, {int8} fast int8 dot products"


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024**2
    except OSError:
        pass
    return None


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return f"{line.split('=', 1)[1].strip().strip(chr(34))}, Linux {platform.release()}"
    except OSError:
        pass
    return platform.platform()


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _git_commit() -> str:
    """The commit the code came from (read-only git commands), marked when files are modified."""
    try:
        def git(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10)

        head = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if head.returncode != 0:
        return "unknown (not a git checkout)"
    return head.stdout.strip() + (" with uncommitted changes" if dirty.stdout.strip() else "")


def describe() -> dict[str, str]:
    memory = _memory_gib()
    return {
        "CPU": f"{_cpuinfo_model()} ({_cpu_flags()})",
        "cores": f"{os.cpu_count()} logical, {usable_cores()} usable by this process",
        "memory": f"{memory:.1f} GiB" if memory else "unknown",
        "OS": _os_name(),
        "Python": platform.python_version(),
        "TensorFlow / Keras / LiteRT": f"{_version('tensorflow')} / {_version('keras')} / {_version('ai-edge-litert')}",
        "NumPy / PyAV / MediaPipe": f"{_version('numpy')} / {_version('av')} / {_version('mediapipe')}",
        "code": _git_commit(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


@dataclass
class LoadWindow:
    """Load seen between two moments: the 1-minute load average and the share of CPU busy."""

    samples: list[float] = field(default_factory=list)
    busy: float | None = None

    def summary(self) -> str:
        if not self.samples:
            return "not sampled"
        mean = sum(self.samples) / len(self.samples)
        text = f"1-min load average {min(self.samples):.2f} to {max(self.samples):.2f} (mean {mean:.2f})"
        if self.busy is not None:
            text += f", all cores {self.busy:.0%} busy"
        return text


class LoadMonitor:
    """Samples ``os.getloadavg()`` every second on a thread; :meth:`window` brackets one section."""

    def __init__(self, period_s: float = 1.0) -> None:
        self.period_s = period_s
        self._samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bench-load", daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._samples.append((time.monotonic(), os.getloadavg()[0]))
            self._stop.wait(self.period_s)

    def start(self) -> LoadMonitor:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def window(self) -> tuple[float, tuple[int, int] | None]:
        """A mark to pass to :meth:`since`."""
        return time.monotonic(), machine_busy_ticks()

    def since(self, mark: tuple[float, tuple[int, int] | None]) -> LoadWindow:
        began, ticks = mark
        samples = [load for at, load in self._samples if at >= began]
        samples.append(os.getloadavg()[0])
        now = machine_busy_ticks()
        busy = (now[0] - ticks[0]) / (now[1] - ticks[1]) if ticks and now and now[1] > ticks[1] else None
        return LoadWindow(samples, busy)


def run(quick: bool) -> str:
    """The machine, its load when the benchmark started, and the other busy processes."""
    info = describe()
    load = os.getloadavg()
    busy = busy_processes(sample_s=1.0, min_cores=0.1, exclude=os.getpid())
    lines = ["## Machine", "", table(["", ""], list(info.items())), ""]
    lines.append(f"Load average at the start: {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1 / 5 / 15 min) on {usable_cores()} cores.")
    if busy:
        lines += ["", "Other processes busy at the start (sampled over 1 s; they share the cores with the benchmark):", ""]
        lines.append(table(["pid", "cores used", "command"], [(b.pid, f"{b.cores:.2f}", f"`{b.command}`") for b in busy[:8]]))
    else:
        lines += ["", "No other process used more than 0.1 core at the start."]
    return "\n".join(lines) + "\n"
