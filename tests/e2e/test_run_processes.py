"""`emostream run`'s worker processes: they die with a SIGKILLed runner, leave no password on disk,
get free ports when the configured ones are taken (two runs at once), and a worker that cannot start
is blamed, not the sources."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import PROTECTED_PASSWORD, RedisServer, free_port
from tests.helpers import alive, wait_for

pytestmark = pytest.mark.slow


def base_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMOSTREAM_")}
    tmp.mkdir(exist_ok=True)
    return env | {"TMPDIR": str(tmp)}


def children_of(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += [int(p) for p in (task / "children").read_text().split()]
    return out


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def listeners_of_session(session: int, ports: list[int]) -> list[tuple[int, int]]:
    """(pid, port) for every process of ``session`` that holds a listening TCP socket on one of ``ports``.

    A port number alone is no proof: once the run's workers let a port go, a process of
    another test (the suite runs in several processes) may be handed the same number.
    """
    inodes: dict[str, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            port = int(fields[1].rsplit(":", 1)[1], 16)
            if fields[3] == "0A" and port in ports:  # 0A: LISTEN
                inodes[f"socket:[{fields[9]}]"] = port
    held: list[tuple[int, int]] = []
    for proc in Path("/proc").iterdir():
        try:
            if not proc.name.isdigit() or int((proc / "stat").read_text().rsplit(")", 1)[1].split()[3]) != session:
                continue
            fds = list((proc / "fd").iterdir())
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue  # the process ended while we looked
        for fd in fds:
            try:
                link = os.readlink(fd)
            except OSError:
                continue  # closed while we looked
            if link in inodes:
                held.append((int(proc.name), inodes[link]))
    return held


def files_holding(folder: Path, text: bytes) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and text in p.read_bytes()]


@pytest.mark.parametrize("redis_kind", ["protected", "embedded"])
def test_a_sigkilled_run_takes_its_workers_with_it_and_leaves_no_password_on_disk(redis_kind: str, request: pytest.FixtureRequest,
                                                                                   tmp_path: Path, demo_clip: Path) -> None:
    ports = [free_port() for _ in range(3)]
    if redis_kind == "protected":
        protected: RedisServer = request.getfixturevalue("protected_redis")
        redis_env = {"EMOSTREAM_REDIS__URL": f"redis://127.0.0.1:{protected.port}", "EMOSTREAM_REDIS__PASSWORD": PROTECTED_PASSWORD}
    else:  # the run's own server, and the reaper that ends it (emostream.run.reaper)
        redis_env = {}
    env = base_env(tmp_path / "tmp") | redis_env | {
        "EMOSTREAM_HTTP__AGGREGATOR_PORT": str(ports[0]), "EMOSTREAM_HTTP__CLASSIFIER_PORT": str(ports[1]),
        "EMOSTREAM_HTTP__INGEST_PORT": str(ports[2]), "EMOSTREAM_AGGREGATOR__SUMMARY_DIR": str(tmp_path / "sessions"),
    }
    with open(tmp_path / "stderr", "wb") as err:
        runner = subprocess.Popen([sys.executable, "-m", "emostream", "run", "--quiet", "--realtime", "--source", f"demo={demo_clip}"],
                                  cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
    try:
        # Given a run whose three workers serve their ports
        expected = 3 if redis_kind == "protected" else 5  # embedded: its server and the reaper too
        wait_for(lambda: (all(listening(p) for p in ports) and len(children_of(runner.pid)) >= expected) or runner.poll() is not None,
                 120, "the workers should be started and their ports served")
        assert runner.poll() is None, (tmp_path / "stderr").read_text()[-2000:]
        time.sleep(3)  # the workers are past their start-up (a worker killed before it is set up is no test of this)
        workers = children_of(runner.pid)
        assert len(workers) == expected, workers
        # ... and no file of its TMPDIR or working folder holds the password while it runs
        assert not files_holding(tmp_path, PROTECTED_PASSWORD.encode()), "a file holds the Redis password"
        # When the runner is SIGKILLed
        runner.send_signal(signal.SIGKILL)
        runner.wait(10)
        killed = time.monotonic()
        # Then its workers are gone within seconds, their ports free, and no file holds the password
        wait_for(lambda: not any(alive(pid) for pid in workers), 15, f"workers {workers} should die with their runner")
        wait_for(lambda: not listeners_of_session(runner.pid, ports), 5, "no process of the run should hold the workers' ports")
        print(f"workers gone {time.monotonic() - killed:.1f} s after the SIGKILL")
        assert not files_holding(tmp_path, PROTECTED_PASSWORD.encode()), "a file holds the Redis password"
        wait_for(lambda: not list((tmp_path / "tmp").iterdir()), 5, "the run's temporary files should be gone")
    finally:
        if runner.poll() is None:
            runner.kill()
        for pid in children_of(runner.pid) if alive(runner.pid) else []:
            os.kill(pid, signal.SIGKILL)


def run_args(redis_server: RedisServer, prefix: str, tmp_path: Path, demo_clip: Path) -> tuple[list[str], dict[str, str]]:
    env = base_env(tmp_path / "tmp") | {
        "EMOSTREAM_REDIS__URL": redis_server.url, "EMOSTREAM_REDIS__PREFIX": prefix,
        "EMOSTREAM_AGGREGATOR__SUMMARY_DIR": str(tmp_path / "sessions"),
    }
    return [sys.executable, "-m", "emostream", "run", "--quiet", "--source", f"demo={demo_clip}"], env


def test_two_runs_at_once_on_the_default_ports_both_finish(redis_server: RedisServer, tmp_path: Path, demo_clip: Path) -> None:
    # Given two runs started together with the default HTTP ports (9400-9402), each with its own prefix
    procs = []
    for name in ("one", "two"):
        folder = tmp_path / name
        folder.mkdir()
        cmd, env = run_args(redis_server, f"twin-{name}-{os.getpid()}", folder, demo_clip)
        procs.append(subprocess.Popen(cmd, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = [proc.communicate(timeout=280) for proc in procs]
    # Then both summarise the clip and exit 0; a port found taken was replaced, and said so in one line
    for proc, (out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, f"exit {proc.returncode}: {err[-3000:]}"
        assert "Session demo-" in out, out[-2000:]
        assert "Traceback" not in err, err[-3000:]
    notes = [line for _, err in results for line in err.splitlines() if "is taken;" in line]
    assert notes and all(line.startswith("emostream run: http.") for line in notes), notes


def test_a_worker_that_cannot_start_is_blamed_not_the_source(redis_server: RedisServer, prefix: str, tmp_path: Path,
                                                             demo_clip: Path) -> None:
    cmd, env = run_args(redis_server, prefix, tmp_path, demo_clip)
    env |= {"EMOSTREAM_CLASSIFIER__MODEL": str(tmp_path / "no-such-model"), "EMOSTREAM_HTTP__AGGREGATOR_PORT": "0",
            "EMOSTREAM_HTTP__CLASSIFIER_PORT": "0", "EMOSTREAM_HTTP__INGEST_PORT": "0"}
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=280)
    assert proc.returncode != 0
    assert "could not be opened" not in proc.stdout and "Failed source" not in proc.stdout, proc.stdout[-2000:]
    # Ingest reads the model's card too (the crop it cuts), so either role may be the first to fail on it.
    failed = re.search(r"worker\(s\) failed: \{(.*)\}", proc.stderr)
    assert failed and re.search(r"'(classify|ingest)': 2", failed.group(1)) and "no-such-model" in proc.stderr, proc.stderr[-2000:]
