"""The cluster settings: off by default, and cluster mode needs a node's URL (the embedded server is never a cluster)."""

from __future__ import annotations

import pytest

from emostream.config import ConfigError, parse_config


def test_single_redis_and_one_faces_stream_are_the_default() -> None:
    config = parse_config({}, "test")
    assert config.redis.cluster is False and config.redis.faces_shards == 1


@pytest.mark.parametrize("url", [None, "unix:///tmp/redis.sock"])
def test_cluster_mode_needs_a_tcp_url_of_a_node(url: str | None) -> None:
    with pytest.raises(ConfigError, match=r"redis\.cluster needs a redis:// or rediss:// URL"):
        parse_config({"redis": {"cluster": True, "url": url}}, "test")


def test_cluster_mode_with_a_seed_url_and_shards_is_valid() -> None:
    config = parse_config({"redis": {"cluster": True, "url": "rediss://node-1:6379", "faces_shards": 6}}, "test")
    assert config.redis.cluster and config.redis.faces_shards == 6
