"""Resident memory of each role, idle and under load, with and without the live web page.

What a container of each role must be given. The three workers run as
`emostream run` starts them, against a private Redis, first watching a camera
with nobody in view (a black lavfi graph at 5 frames/s): their resident set
then is the idle figure. The bundled demo clip is then added at run time (as
`emostream sources add` does) and processed; the kernel's high-water mark of
each process (``VmHWM``, read once its summary is written) is the peak, model
loading included. With the web page on, a viewer holds the demo clip's MJPEG
stream open while it plays, so ingest encodes previews and the aggregator
serves them. Also notes whether TensorFlow is mapped into a process: the
serving roles should never load it (docs/deploy.md), and it alone is about
500 MiB.
"""

from __future__ import annotations

import re
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.harness import Cluster, free_port, healthy, scrape, wait_until
from benchmarks.markdown import num, table, verdict
from emostream.config import SourceConfig, parse_config
from emostream.ingest.control import request_add, worker_name
from emostream.run.pipeline import demo_clip
from emostream.streams.keys import Keys

ROLES = {"ingest": "ingest", "classifier": "classify", "aggregator": "aggregate"}
TARGETS_MIB = {"ingest": 300, "classifier": 350}  # issue 11, CPU roles on the demo clip, without the web page
TENSORFLOW_FILE = re.compile(r"/tensorflow/|/libtensorflow")
PREFIX = "bench-memory"
IDLE_CAMERA = "lavfi:color=c=black:size=640x360:rate=5"  # a live source with no face in view
IDLE_FRAMES = 10  # analysed frames of the idle camera before the idle figure is read
SETTLE_S = 3.0


@dataclass(frozen=True)
class Row:
    role: str
    web: bool
    idle_mib: float | None
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


def _config(cluster: Cluster, ports: dict[str, int], sessions: Path, web: bool) -> dict[str, Any]:
    return {
        "redis": {"url": cluster.url, "prefix": PREFIX},
        "sources": [{"id": "idle", "url": IDLE_CAMERA, "fps": 5}],
        "http": {f"{role}_port": port for role, port in ports.items()},
        "aggregator": {"summary_dir": str(sessions), "end_grace_s": 5},
        "web": {"enabled": web},
    }


def _view(url: str, stop: threading.Event) -> None:
    """A viewer of the live page: reads the MJPEG stream until told to stop (or the stream ends)."""
    deadline = time.monotonic() + 60
    while not stop.is_set() and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                while not stop.is_set() and response.read(65536):
                    pass
        except OSError:
            stop.wait(0.2)  # the source has no frame yet: 404 until it has


def measure(workdir: Path, web: bool, timeout_s: float = 300.0) -> list[Row]:
    cluster = Cluster(workdir)
    try:
        client = cluster.start_redis()
        ports = {role: free_port() for role in ROLES}
        sessions = workdir / "sessions"
        data = _config(cluster, ports, sessions, web)
        config_file = cluster.config_file("memory-web" if web else "memory", data)
        for role, command in ROLES.items():
            cluster.spawn(role, config_file, command)
        wait_until(lambda: all(healthy(p) for p in ports.values()) or _exited(cluster), 180, "workers are up")
        cluster.check_running(*ROLES)
        wait_until(lambda: _analysed(ports["ingest"]) >= IDLE_FRAMES or _exited(cluster), 120, "ingest analyses the idle camera")
        cluster.check_running(*ROLES)
        time.sleep(SETTLE_S)
        pids = {role: cluster.procs[role].pid for role in ROLES}
        idle = {role: status_mib(pid, "VmRSS") for role, pid in pids.items()}
        stop_viewer = threading.Event()
        if web:
            url = f"http://127.0.0.1:{ports['aggregator']}/live/demo.mjpg"
            threading.Thread(target=_view, args=(url, stop_viewer), daemon=True).start()
        config = parse_config(data, "memory")
        request_add(client, Keys(PREFIX), worker_name(config.ingest), SourceConfig(id="demo", url=str(demo_clip())))
        try:
            _wait_for_summary(cluster, sessions, timeout_s)
        finally:
            stop_viewer.set()
        return [
            Row(role, web, idle[role], status_mib(pid, "VmHWM"), status_mib(pid, "VmRSS"), maps_tensorflow(pid)) for role, pid in pids.items()
        ]
    finally:
        cluster.close()


def _wait_for_summary(cluster: Cluster, sessions: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not list(sessions.glob("demo-*.timeline.png")):  # written after the JSON: the chart is the aggregator's peak
        cluster.check_running(*ROLES)
        if time.monotonic() > deadline:
            raise TimeoutError(f"no session summary of the demo clip after {timeout_s:.0f} s")
        time.sleep(0.5)


def _analysed(port: int) -> float:
    samples = scrape(port)
    return sum(v for (name, labels), v in samples.items() if name == "emostream_ingest_frames_total" and ("outcome", "analysed") in labels)


def _exited(cluster: Cluster) -> bool:
    return any(proc.poll() is not None for proc in cluster.procs.values())


def render(rows: list[Row]) -> str:
    body = []
    targets = []
    for row in rows:
        target = None if row.web else TARGETS_MIB.get(row.role)
        tf = "—" if row.tensorflow is None else ("**yes**" if row.tensorflow else "no")
        body.append([row.role, "on" if row.web else "off", num(row.idle_mib), num(row.peak_mib), num(row.end_mib), tf,
                     f"< {target}" if target else "—"])
        if target:
            ok = row.peak_mib is not None and row.peak_mib < target
            targets.append(f"Target ({row.role} resident memory on the demo clip < {target} MiB): {verdict(ok)}, peak {num(row.peak_mib)} MiB.")
    lines = [
        "## Resident memory of each role",
        "",
        "Each worker process in its default configuration (CPU, `classifier.format: auto`) against a private Redis. "
        "**Idle**: the resident set (`VmRSS`) while ingest watches one live camera with nobody in view (a black lavfi "
        "graph at 5 frames/s) and nothing else flows. **Peak**: the kernel's high-water mark (`VmHWM`) after the "
        "bundled demo clip was added as a second source and summarised (start-up and model loading included); a "
        "container of that role needs at least that much, plus headroom for more sources. **Web on**: "
        "`web.enabled: true` (`emostream run --web`) with one viewer on the demo clip's MJPEG stream while it plays.",
        "",
        table(["role", "web page", "idle RSS (MiB)", "peak RSS (MiB)", "RSS at the end (MiB)", "TensorFlow mapped", "target (MiB)"], body),
        "",
        *targets,
        "",
    ]
    return "\n".join(lines)


def run(quick: bool) -> str:
    rows = []
    for web in (False, True):
        with tempfile.TemporaryDirectory(prefix="emostream-bench-memory-") as workdir:
            rows += measure(Path(workdir), web)
    return render(rows)
