"""Every command that cannot start says why in one line, exits 2 and leaves no temporary file behind."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import RedisServer, free_port


def emostream(args: list[str], redis_url: str, tmp_path: Path, extra: dict[str, str] | None = None) -> tuple[int, list[str], list[Path]]:
    """Run the command with its own TMPDIR; returns (exit code, stderr lines, files left in TMPDIR)."""
    tmp = tmp_path / "tmp"
    tmp.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMOSTREAM_")}
    env |= {"TMPDIR": str(tmp), "EMOSTREAM_REDIS__URL": redis_url, "EMOSTREAM_REDIS__CONNECT_TIMEOUT_S": "2",
            "EMOSTREAM_REDIS__STARTUP_WAIT_S": "0"}  # fail at once: waiting for Redis is tested where it is built
    env |= extra or {}
    proc = subprocess.run([sys.executable, "-m", "emostream", *args], env=env, capture_output=True, timeout=180, cwd=tmp_path)
    lines = [line for line in proc.stderr.decode().splitlines() if line.strip()]
    return proc.returncode, lines, sorted(tmp.iterdir())


def unreachable() -> str:
    return f"redis://127.0.0.1:{free_port()}"


@pytest.mark.parametrize(
    "args",
    [
        ["run", "--quiet"],
        ["events"],
        ["ingest", "--source", "cam=missing.mp4"],
        ["classify"],
        ["aggregate"],
        ["sessions", "list"],
        ["sessions", "show", "cam-1"],
        ["tracks"],
        ["sources", "list"],
        ["sources", "add", "cam2", "clip.mp4"],
    ],
    ids=lambda a: " ".join(a[:3]),
)
def test_an_unreachable_redis_is_one_line_and_exit_2(args: list[str], tmp_path: Path) -> None:
    code, lines, left = emostream(args, unreachable(), tmp_path)
    assert code == 2, f"exit {code}: {lines}"
    assert len(lines) == 1 and "Redis" in lines[0] and lines[0].startswith("emostream"), lines
    assert not left, f"temporary files left behind: {left}"


def test_run_without_the_password_a_redis_requires_says_so(protected_redis: RedisServer, tmp_path: Path) -> None:
    code, lines, left = emostream(["run", "--quiet"], f"redis://127.0.0.1:{protected_redis.port}", tmp_path)
    assert code == 2 and len(lines) == 1, lines
    assert "requires a password" in lines[0] and "HELLO" not in lines[0], lines
    assert not left, f"temporary files left behind: {left}"


def test_run_with_a_wrong_password_leaves_no_config_with_it(protected_redis: RedisServer, tmp_path: Path) -> None:
    code, lines, left = emostream(["run", "--quiet"], f"redis://:wrongpw@127.0.0.1:{protected_redis.port}", tmp_path)
    assert code == 2 and len(lines) == 1 and "refused the credentials" in lines[0], lines
    assert "wrongpw" not in lines[0], "the password must not be printed"
    assert not left, f"the worker config (it holds the password) was left behind: {left}"


def test_events_without_the_password_is_one_line(protected_redis: RedisServer, tmp_path: Path) -> None:
    code, lines, _ = emostream(["events"], f"redis://127.0.0.1:{protected_redis.port}", tmp_path)
    assert code == 2 and len(lines) == 1 and "requires a password" in lines[0], lines


def test_analyze_into_an_impossible_folder_is_one_line(tmp_path: Path) -> None:
    from emostream.run.pipeline import demo_clip

    code, lines, _ = emostream(["analyze", str(demo_clip()), "--out", "/etc/passwd/x"], unreachable(), tmp_path)
    assert code == 2, f"exit {code}: {lines}"
    assert len(lines) == 1 and "/etc/passwd/x" in lines[0], lines


def test_an_invalid_config_file_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("redis: [not, a, mapping\n")
    code, lines, _ = emostream(["--config", str(bad), "run", "--quiet"], unreachable(), tmp_path)
    assert code == 2, f"exit {code}: {lines}"
    assert lines and "Traceback" not in "\n".join(lines), lines


def test_a_missing_config_file_is_one_line(tmp_path: Path) -> None:
    code, lines, _ = emostream(["validate-config", str(tmp_path / "missing.yaml")], unreachable(), tmp_path)
    assert code == 2 and len(lines) == 1 and "missing.yaml does not exist" in lines[0], lines


def test_run_points_to_the_responsible_use_page_once_at_start(tmp_path: Path) -> None:
    """Even a run that cannot start has said, first, where the limits on emotion recognition are written."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMOSTREAM_")}
    env |= {"EMOSTREAM_REDIS__URL": unreachable(), "EMOSTREAM_REDIS__CONNECT_TIMEOUT_S": "2", "EMOSTREAM_REDIS__STARTUP_WAIT_S": "0"}
    proc = subprocess.run([sys.executable, "-m", "emostream", "run", "--quiet"], env=env, capture_output=True, text=True, timeout=180, cwd=tmp_path)
    lines = proc.stdout.splitlines()
    assert [line for line in lines if "docs/responsible-use.md" in line] == lines[:1], proc.stdout
    assert "docs/responsible-use.md" not in proc.stderr


@pytest.fixture()
def taken_port() -> Iterator[int]:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        yield int(sock.getsockname()[1])


ROLE_PORTS = {"aggregate": "AGGREGATOR", "classify": "CLASSIFIER", "ingest": "INGEST"}


@pytest.mark.parametrize("role", list(ROLE_PORTS))
def test_a_role_whose_port_is_taken_says_so_in_one_line(role: str, taken_port: int, redis_server: RedisServer, tmp_path: Path) -> None:
    args = [role, "--source", "cam=clip.mp4"] if role == "ingest" else [role]
    env = {f"EMOSTREAM_HTTP__{ROLE_PORTS[role]}_PORT": str(taken_port)}
    code, lines, _ = emostream(["--log-level", "WARNING", *args], redis_server.url, tmp_path, env)  # the classifier logs its model at INFO
    assert code == 2, f"exit {code}: {lines}"
    assert len(lines) == 1 and f"cannot serve HTTP on 127.0.0.1:{taken_port}: Address already in use" in lines[0], lines


@pytest.mark.parametrize("host", ["no-such-host.invalid", "192.0.2.1"], ids=["unknown", "not-local"])
def test_a_host_that_cannot_be_served_is_one_line_for_a_role_and_for_run(host: str, redis_server: RedisServer, tmp_path: Path) -> None:
    for args in (["aggregate"], ["run", "--quiet"]):
        code, lines, left = emostream(args, redis_server.url, tmp_path, {"EMOSTREAM_HTTP__HOST": host, "EMOSTREAM_HTTP__AGGREGATOR_PORT": "0"})
        assert code == 2, f"{args}: exit {code}: {lines}"
        assert len(lines) == 1 and f"cannot serve HTTP on {host}" in lines[0] and lines[0].startswith("emostream"), lines
        assert not left, f"temporary files left behind: {left}"
