"""Start-up against the wrong kind of Redis says so in one line and exits 2 (as tests/test_startup_failures.py for single Redis)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from emostream.config import RedisConfig
from emostream.streams.connection import connect
from emostream.streams.errors import RedisUnreachable
from tests.conftest import RedisServer, free_port
from tests.support.cluster import RedisClusterServer


def emostream(args: list[str], env_extra: dict[str, str], tmp_path: Path) -> tuple[int, list[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMOSTREAM_")}
    env |= {"EMOSTREAM_REDIS__CONNECT_TIMEOUT_S": "2", "EMOSTREAM_REDIS__STARTUP_WAIT_S": "0", **env_extra}
    proc = subprocess.run([sys.executable, "-m", "emostream", *args], env=env, capture_output=True, timeout=120, cwd=tmp_path)
    return proc.returncode, [line for line in proc.stderr.decode().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def broken_cluster() -> Iterator[RedisClusterServer]:
    """A cluster whose slot 0 has no master any more: ``cluster_state:fail``."""
    cluster = RedisClusterServer(masters=3).start()
    for node in cluster.nodes:
        node.client().execute_command("CLUSTER DELSLOTS", 0)
    yield cluster
    cluster.stop()


def test_cluster_mode_against_a_single_redis_says_it_is_not_a_cluster(redis_server: RedisServer, tmp_path: Path) -> None:
    code, lines = emostream(["sources", "list"], {"EMOSTREAM_REDIS__URL": redis_server.url, "EMOSTREAM_REDIS__CLUSTER": "true"}, tmp_path)
    assert code == 2 and len(lines) == 1, lines
    assert "is not a cluster" in lines[0] and "redis.cluster" in lines[0], lines


def test_single_mode_against_a_cluster_node_says_to_set_cluster_mode(redis_cluster: RedisClusterServer, tmp_path: Path) -> None:
    code, lines = emostream(["sources", "list"], {"EMOSTREAM_REDIS__URL": redis_cluster.url}, tmp_path)
    assert code == 2 and len(lines) == 1, lines
    assert "is a Redis Cluster node" in lines[0] and "redis.cluster: true" in lines[0], lines


def test_a_cluster_with_a_slot_not_covered_is_refused(broken_cluster: RedisClusterServer, tmp_path: Path) -> None:
    code, lines = emostream(["sources", "list"], {"EMOSTREAM_REDIS__URL": broken_cluster.url, "EMOSTREAM_REDIS__CLUSTER": "true"}, tmp_path)
    assert code == 2 and len(lines) == 1, lines
    assert "does not cover every hash slot" in lines[0], lines


def test_cluster_mode_against_the_cluster_starts(redis_cluster: RedisClusterServer, tmp_path: Path) -> None:
    code, lines = emostream(["sources", "list"], {"EMOSTREAM_REDIS__URL": redis_cluster.url, "EMOSTREAM_REDIS__CLUSTER": "true"}, tmp_path)
    assert code == 0, f"exit {code}: {lines}"


def test_an_unreachable_cluster_is_waited_for_not_refused() -> None:
    # streams.wait retries only RedisUnreachable: a cluster that is not up yet must be that, not a configuration error
    with pytest.raises(RedisUnreachable, match="cannot reach Redis Cluster"):
        connect(RedisConfig(url=f"redis://127.0.0.1:{free_port()}", cluster=True, connect_timeout_s=1))
