"""The ACL tests' Redis: the suite's password-protected server (``protected_redis``), and its admin client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from tests.conftest import PROTECTED_PASSWORD, RedisServer


@pytest.fixture(scope="module")
def acl_server(protected_redis: RedisServer) -> RedisServer:
    """A Redis that requires a password, where a test adds ACL users of its own through ``admin``."""
    return protected_redis


@pytest.fixture
def admin(acl_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis(host="127.0.0.1", port=acl_server.port, password=PROTECTED_PASSWORD)
    yield client
    client.close()
