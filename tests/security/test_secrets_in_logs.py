"""A real worker process never prints the Redis password: not at start-up, not when Redis goes away, not at exit.

Each test runs ``emostream --config FILE aggregate`` at DEBUG level, the password
given one of the supported ways, and searches everything the process wrote.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import RedisServer, free_port
from tests.helpers import wait_for
from tests.security.listening import listening_addresses

pytestmark = pytest.mark.slow

PASSWORD = f"logsecret-{uuid.uuid4().hex}"


def write_config(tmp_path: Path, how: str, server_port: int, password: str, http_port: int = -1) -> tuple[Path, dict[str, str]]:
    """A config file and environment giving ``password`` ``how``; the password never in argv."""
    redis_section: dict[str, Any] = {"url": f"redis://127.0.0.1:{server_port}/0", "connect_timeout_s": 2}
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMOSTREAM_")}
    if how == "url":
        redis_section["url"] = f"redis://:{password}@127.0.0.1:{server_port}/0"
    elif how == "password_file":
        secret = tmp_path / "redis-password"
        secret.write_text(password + "\n")
        redis_section["password_file"] = str(secret)
    else:
        assert how == "environment"
        env["EMOSTREAM_REDIS__PASSWORD"] = password
    config = {
        "redis": redis_section,
        "http": {"aggregator_port": http_port if http_port >= 0 else 0},
        "aggregator": {"summary_dir": str(tmp_path / "sessions")},
    }
    path = tmp_path / "emostream.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, env


def start(config_file: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "emostream", "--config", str(config_file), "--log-level", "DEBUG", "aggregate"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )


@pytest.mark.parametrize("how", ["url", "environment", "password_file"])
def test_a_wrong_password_exits_2_with_one_clear_line_and_no_password(how: str, tmp_path: Path) -> None:
    server = RedisServer(password=PASSWORD).start()
    wrong = f"wrong-{uuid.uuid4().hex}"
    try:
        config_file, env = write_config(tmp_path, how, server.port, wrong)
        proc = subprocess.run(
            [sys.executable, "-m", "emostream", "--config", str(config_file), "--log-level", "DEBUG", "aggregate"],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
    finally:
        server.stop()
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output
    assert "refused the credentials" in proc.stderr, output
    assert wrong not in output and PASSWORD not in output, f"a password reached the output:\n{output}"
    assert "Traceback" not in output, output


@pytest.mark.parametrize("how", ["url", "environment", "password_file"])
def test_a_running_worker_never_logs_the_password(how: str, tmp_path: Path) -> None:
    """Start-up, the /metrics bind, losing Redis, and the drain on SIGTERM: the password appears in none of it."""
    server = RedisServer(password=PASSWORD).start()
    http_port = free_port()
    config_file, env = write_config(tmp_path, how, server.port, PASSWORD, http_port)
    log = tmp_path / "aggregate.log"
    proc = start(config_file, env, log)
    try:
        wait_for(lambda: "summaries in" in log.read_text() or proc.poll() is not None, 60, "the aggregator did not start")
        assert proc.poll() is None, log.read_text()
        assert listening_addresses(http_port) == {"127.0.0.1"}, "the worker's /metrics must listen on loopback only"
        server.kill()  # Redis goes away mid-run: the worker logs the lost connection, with whatever the client says
        wait_for(lambda: "lost Redis" in log.read_text(), 30, "the aggregator did not notice that Redis went away")
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        server.stop()
    output = log.read_text()
    assert code == 0, output
    assert "aggregator stopped ◆" in output, output
    assert PASSWORD not in output, f"the password reached the log:\n{output}"
