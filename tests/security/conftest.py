"""A password-protected Redis with an admin client, shared by the ACL tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from tests.security.servers import Server

ADMIN_PASSWORD = f"admin-{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def acl_server() -> Iterator[Server]:
    server = Server(
        ["--requirepass", ADMIN_PASSWORD], probe=lambda port: redis.Redis(host="127.0.0.1", port=port, password=ADMIN_PASSWORD)
    ).start()
    yield server
    server.stop()


@pytest.fixture
def admin(acl_server: Server) -> Iterator[redis.Redis]:
    client = redis.Redis(host="127.0.0.1", port=acl_server.port, password=ADMIN_PASSWORD)
    yield client
    client.close()
