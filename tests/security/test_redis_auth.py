"""Redis with a password: every way of giving it works, a wrong one fails clearly and is never shown."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from emostream.config import ConfigError, RedisConfig, load_config, parse_config
from emostream.streams.connection import connect
from emostream.streams.errors import RedisUnavailable
from tests.conftest import RedisServer

PASSWORD = f"pw-{uuid.uuid4().hex}"
# Characters that must be percent-encoded in a URL, and a YAML/shell-hostile '#'.
ODD_PASSWORD = f"p@ss:w/rd#%{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def locked() -> Iterator[RedisServer]:
    server = RedisServer(password=PASSWORD).start()
    yield server
    server.stop()


def bare_url(server: RedisServer) -> str:
    return f"redis://127.0.0.1:{server.port}/0"


def secret_file(folder: Path, text: str) -> Path:
    path = folder / "redis-password"
    path.write_text(text + "\n")
    path.chmod(0o600)
    return path


def config_for(how: str, server: RedisServer, password: str, folder: Path) -> RedisConfig:
    """The Redis section with ``password`` given ``how``: in the URL, the field, a file or the environment."""
    if how == "url":
        return parse_config({"redis": {"url": f"redis://:{quote(password, safe='')}@127.0.0.1:{server.port}/0"}}).redis
    if how == "password":
        return parse_config({"redis": {"url": bare_url(server), "password": password}}).redis
    if how == "password_file":
        return parse_config({"redis": {"url": bare_url(server), "password_file": str(secret_file(folder, password))}}).redis
    assert how == "environment"
    return load_config(None, environ={"EMOSTREAM_REDIS__URL": bare_url(server), "EMOSTREAM_REDIS__PASSWORD": password}).redis


WAYS = ("url", "password", "password_file", "environment")


@pytest.mark.parametrize("how", WAYS)
def test_the_right_password_connects(how: str, locked: RedisServer, tmp_path: Path) -> None:
    client = connect(config_for(how, locked, PASSWORD, tmp_path))
    assert client.ping()
    client.set("emostream:auth-probe", how)
    assert client.get("emostream:auth-probe") == how.encode()


@pytest.mark.parametrize("how", WAYS)
def test_a_wrong_password_fails_fast_without_showing_either_password(how: str, locked: RedisServer, tmp_path: Path) -> None:
    wrong = f"wrong-{uuid.uuid4().hex}"
    with pytest.raises(RedisUnavailable) as info:
        connect(config_for(how, locked, wrong, tmp_path))
    message = str(info.value)
    assert "refused the credentials" in message, message
    assert f"127.0.0.1:{locked.port}" in message, f"the message should name the server: {message}"
    assert wrong not in message and PASSWORD not in message, f"a password leaked into the error: {message}"


def test_no_password_is_refused_clearly(locked: RedisServer) -> None:
    with pytest.raises(RedisUnavailable, match="requires a password and none is configured") as info:
        connect(parse_config({"redis": {"url": bare_url(locked)}}).redis)
    assert PASSWORD not in str(info.value)
    assert "HELLO" not in str(info.value), "redis-py's raw HELLO message tells a user nothing"


@pytest.mark.parametrize("how", ["url", "password_file"])
def test_a_password_with_url_special_characters_works(how: str, tmp_path: Path) -> None:
    server = RedisServer(password=ODD_PASSWORD).start()
    try:
        assert connect(config_for(how, server, ODD_PASSWORD, tmp_path)).ping()
    finally:
        server.stop()


def test_a_missing_password_file_is_a_configuration_error_naming_the_file(locked: RedisServer, tmp_path: Path) -> None:
    """Not "no password": connecting without one would fail later with a vaguer NOAUTH."""
    missing = tmp_path / "not-mounted"
    config = parse_config({"redis": {"url": bare_url(locked), "password_file": str(missing)}})
    with pytest.raises(ConfigError, match=r"redis\.password_file .*not-mounted.*cannot read"):
        connect(config.redis)


def test_an_empty_password_file_is_a_configuration_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("")
    with pytest.raises(ConfigError, match="empty"):
        parse_config({"redis": {"password_file": str(empty)}}).redis.resolved_password()


def test_the_password_file_is_read_at_connect_time(locked: RedisServer, tmp_path: Path) -> None:
    """A rotated secret (the file rewritten by Kubernetes) is picked up by the next connection."""
    path = secret_file(tmp_path, "old-password")
    config = parse_config({"redis": {"url": bare_url(locked), "password_file": str(path)}}).redis
    with pytest.raises(RedisUnavailable):
        connect(config)
    path.write_text(PASSWORD + "\n")
    assert connect(config).ping()


def test_an_unreachable_server_is_reported_with_the_url_redacted() -> None:
    from tests.conftest import free_port

    port = free_port()
    config = parse_config({"redis": {"url": f"redis://:{PASSWORD}@127.0.0.1:{port}/0", "connect_timeout_s": 1}}).redis
    with pytest.raises(RedisUnavailable) as info:
        connect(config)
    message = str(info.value)
    assert f"redis://***@127.0.0.1:{port}/0" in message and PASSWORD not in message, message


def test_the_server_really_requires_the_password(locked: RedisServer) -> None:
    """Guard for the tests above: the server refuses a client that does not authenticate."""
    with socket.create_connection(("127.0.0.1", locked.port), timeout=5) as sock:
        sock.sendall(b"PING\r\n")
        assert sock.recv(200).startswith(b"-NOAUTH"), "the test server accepts clients without a password"
