"""Redis ACL users: the rule documented in docs/deploy.md is enough for a worker, and a denial is clear.

The server's ``default`` user has a password (the admin, used by the test to
publish and inspect); the workers log in as a user made with the documented
``ACL SETUSER`` rule, restricted to the test's own key prefix.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis

from emostream.aggregator.worker import AggregatorWorker
from emostream.config import Config, parse_config
from emostream.streams.connection import connect
from emostream.streams.errors import RedisPermissionDenied, RedisUnavailable
from emostream.streams.keys import Keys
from tests.conftest import RedisServer
from tests.security.servers import acl_rule_from_docs, publish_session, serve_until_summary


def add_user(admin: redis.Redis, rules: list[str]) -> None:
    user, *rest = rules
    admin.acl_deluser(user)
    admin.execute_command("ACL", "SETUSER", user, *rest)


def worker_config(server: RedisServer, user: str, password: str, prefix: str, tmp_path: Path) -> Config:
    return parse_config(
        {
            "redis": {"url": f"redis://127.0.0.1:{server.port}/0", "username": user, "password": password, "prefix": prefix},
            "http": {"aggregator_port": 0},
            "aggregator": {"summary_dir": str(tmp_path / "sessions"), "end_grace_s": 10},
        }
    )


def test_an_aggregator_runs_as_the_documented_acl_user(
    acl_server: RedisServer, admin: redis.Redis, prefix: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    user, password = f"agg-{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}"
    add_user(admin, acl_rule_from_docs(user, password, prefix))
    worker = AggregatorWorker(worker_config(acl_server, user, password, prefix, tmp_path), consumer="acl-test")
    publish_session(admin, Keys(prefix), "cam1-acl", ["happy"] * 4 + ["sad"] * 2)
    with caplog.at_level(logging.INFO):
        summary = serve_until_summary(worker, admin, "cam1-acl", logs=lambda: caplog.text)
    assert summary["faces"] == 6 and summary["emotions"]["counts"]["happy"] == 4
    assert "NOPERM" not in caplog.text and "no permissions" not in caplog.text, caplog.text
    assert admin.xlen(Keys(prefix).sessions) == 1, "the summary must be published on the sessions stream"


def test_the_documented_acl_user_cannot_touch_other_keys_or_admin_commands(acl_server: RedisServer, admin: redis.Redis, prefix: str) -> None:
    """The rule restricts as well as allows: outside its prefix, and for dangerous commands, it is refused."""
    user, password = f"lim-{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}"
    add_user(admin, acl_rule_from_docs(user, password, prefix))
    client = redis.Redis(host="127.0.0.1", port=acl_server.port, username=user, password=password)
    client.set(f"{prefix}:mine", "1")
    with pytest.raises(redis.exceptions.NoPermissionError):
        client.get("someone-else:key")
    for command in (("FLUSHALL",), ("KEYS", "*"), ("CONFIG", "GET", "dir"), ("ACL", "LIST")):
        with pytest.raises(redis.exceptions.NoPermissionError):
            client.execute_command(*command)


def test_a_worker_outside_its_key_pattern_fails_fast_with_a_clear_error(acl_server: RedisServer, admin: redis.Redis, prefix: str, tmp_path: Path) -> None:
    user, password = f"wrong-{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}"
    rules = acl_rule_from_docs(user, password, "someone-else")  # the documented commands, another prefix
    add_user(admin, rules)
    with pytest.raises(RedisPermissionDenied) as info:
        AggregatorWorker(worker_config(acl_server, user, password, prefix, tmp_path))
    message = str(info.value)
    assert f"{prefix}:lifecycle" in message and "consumer group" in message, message
    assert "docs/deploy.md" in message, f"the error should say where the needed ACL is documented: {message}"
    assert password not in message


def test_a_user_without_the_commands_fails_fast_with_a_clear_error(acl_server: RedisServer, admin: redis.Redis, prefix: str, tmp_path: Path) -> None:
    user, password = f"ro-{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}"
    add_user(admin, [user, "on", f">{password}", f"~{prefix}:*", "-@all", "+@connection", "+@read"])
    with pytest.raises(RedisPermissionDenied, match="may not create consumer group"):
        AggregatorWorker(worker_config(acl_server, user, password, prefix, tmp_path))


def test_an_acl_user_with_a_wrong_password_is_named_in_the_error(acl_server: RedisServer, admin: redis.Redis, prefix: str) -> None:
    user, password = f"named-{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}"
    add_user(admin, acl_rule_from_docs(user, password, prefix))
    wrong = f"wrong-{uuid.uuid4().hex}"
    config = parse_config({"redis": {"url": f"redis://{user}:{wrong}@127.0.0.1:{acl_server.port}/0"}})
    with pytest.raises(RedisUnavailable) as info:
        connect(config.redis)
    message = str(info.value)
    assert f"user {user!r}" in message and "refused the credentials" in message, message
    assert wrong not in message and password not in message, message


def test_a_disabled_user_cannot_connect(acl_server: RedisServer, admin: redis.Redis, prefix: str) -> None:
    user, password = f"off-{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}"
    rules: list[Any] = acl_rule_from_docs(user, password, prefix)
    add_user(admin, [r if r != "on" else "off" for r in rules])
    with pytest.raises(RedisUnavailable, match="refused the credentials"):
        connect(parse_config({"redis": {"url": f"redis://127.0.0.1:{acl_server.port}/0", "username": user, "password": password}}).redis)
