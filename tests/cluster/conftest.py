"""The test session's Redis Cluster (three masters), started on first use and torn down at the end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from emostream.config import Config, parse_config
from tests.support.cluster import RedisClusterServer


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisClusterServer]:
    cluster = RedisClusterServer(masters=3).start()
    yield cluster
    cluster.stop()


@pytest.fixture
def cclient(redis_cluster: RedisClusterServer) -> Iterator[redis.RedisCluster]:
    client = redis.RedisCluster.from_url(redis_cluster.url)
    yield client
    client.close()


@pytest.fixture
def make_cluster_config(redis_cluster: RedisClusterServer, prefix: str, tmp_path: Path) -> Any:
    """A validated Config on the test cluster (cluster mode, 6 faces shards), with free ports and a temp summary folder."""

    def build(**sections: Any) -> Config:
        data: dict[str, Any] = {
            "redis": {"url": redis_cluster.url, "prefix": prefix, "cluster": True, "faces_shards": 6},
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
