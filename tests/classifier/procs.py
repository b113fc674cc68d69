"""Real worker processes for tests: spawn with a config file, signal, scrape /metrics, clean up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from emostream.config import Config, dump_config
from tests.helpers import wait_for

REPO = Path(__file__).resolve().parents[2]


class Procs:
    """Worker processes started by one test (``python -m emostream --config FILE ROLE``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.running: dict[str, subprocess.Popen[bytes]] = {}
        self.killed: set[str] = set()

    def start(self, name: str, config: Config, *args: str, module: str = "emostream") -> subprocess.Popen[bytes]:
        """``python -m MODULE --config FILE ARGS``; ``module`` may be a test's own runner (run from the repository root)."""
        config_file = self.folder / f"{name}.yaml"
        config_file.write_text(dump_config(config))
        env = {k: v for k, v in os.environ.items() if not k.startswith("EMOSTREAM_")}
        env["TF_CPP_MIN_LOG_LEVEL"] = "2"
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        with open(self.folder / f"{name}.log", "ab") as out:  # appended: a restarted worker keeps its first log
            proc = subprocess.Popen(
                [sys.executable, "-m", module, "--config", str(config_file), *args], stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO
            )
        self.running[name] = proc
        return proc

    def log(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text(errors="replace")

    def logs(self) -> str:
        return "\n".join(f"--- {name} ---\n{self.log(name)[-3000:]}" for name in self.running)

    def wait_for(self, predicate: Callable[[], object], timeout: float, message: str) -> None:
        """Like ``tests.helpers.wait_for``, but fails at once, with the logs, if a worker exits."""

        def check() -> object:
            dead = {name: proc.returncode for name, proc in self.running.items() if proc.poll() is not None and name not in self.killed}
            if dead:
                raise AssertionError(f"worker(s) exited early {dead} while waiting until {message}\n{self.logs()}")
            return predicate()

        wait_for(check, timeout, f"{message}\n{self.logs()}")

    def kill(self, name: str) -> None:
        """SIGKILL a worker: no draining, no acknowledgement, like a crashed host."""
        self.killed.add(name)
        self.running[name].kill()
        self.running[name].wait(10)

    def stop_all(self) -> None:
        for proc in self.running.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGCONT)  # a stopped process cannot handle SIGTERM
                proc.send_signal(signal.SIGTERM)
        for proc in self.running.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a worker's /metrics, keyed by name and sorted labels."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def healthy(port: int) -> bool:
    """True once the worker answers /healthz (its model is loaded and its loop runs)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def metric(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return sum(v for (n, lab), v in samples.items() if n == name and all((k, val) in lab for k, val in labels.items()))
