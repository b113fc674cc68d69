"""Redis over TLS (``rediss://``): verified against a CA file, refused when it cannot be verified.

A throwaway CA and certificates are made with openssl; the server listens on a
TLS port only (``--port 0``) and also requires a password, as a production one would.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from emostream.aggregator.worker import AggregatorWorker
from emostream.config import ConfigError, RedisConfig, parse_config
from emostream.streams.connection import connect
from emostream.streams.errors import RedisUnavailable
from emostream.streams.keys import Keys
from tests.security.servers import Certs, Server, make_certs, publish_session, serve_until_summary

PASSWORD = f"tls-{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


def tls_server(certs: Certs, clients_need_certs: bool) -> Server:
    args = [
        "--requirepass",
        PASSWORD,
        "--tls-cert-file",
        str(certs.server_cert),
        "--tls-key-file",
        str(certs.server_key),
        "--tls-ca-cert-file",
        str(certs.ca),
        "--tls-auth-clients",
        "yes" if clients_need_certs else "no",
    ]

    def probe(port: int) -> redis.Redis:
        return redis.Redis(
            host="127.0.0.1",
            port=port,
            password=PASSWORD,
            ssl=True,
            ssl_ca_certs=str(certs.ca),
            ssl_certfile=str(certs.client_cert),
            ssl_keyfile=str(certs.client_key),
        )

    server = Server(args, probe, tls=True, bind="127.0.0.1 127.0.0.2")
    try:
        return server.start()
    except RuntimeError as exc:
        if "tls" in str(exc).lower() and ("not supported" in str(exc).lower() or "unrecognized" in str(exc).lower()):
            pytest.skip(f"this redis-server is built without TLS: {exc}")
        raise


@pytest.fixture(scope="module")
def tls(certs: Certs) -> Iterator[Server]:
    server = tls_server(certs, clients_need_certs=False)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def mtls(certs: Certs) -> Iterator[Server]:
    server = tls_server(certs, clients_need_certs=True)
    yield server
    server.stop()


def redis_section(port: int, **options: Any) -> RedisConfig:
    return parse_config({"redis": {"url": f"rediss://127.0.0.1:{port}/0", "password": PASSWORD, "connect_timeout_s": 2, **options}}).redis


def test_rediss_with_the_ca_file_connects_over_tls(tls: Server, certs: Certs) -> None:
    client = connect(redis_section(tls.port, tls_ca_file=str(certs.ca)))
    assert client.connection_pool.connection_class is redis.SSLConnection, "a rediss:// URL must use a TLS connection"
    client.xadd("emostream:tls-probe", {"v": "1"})
    assert client.xlen("emostream:tls-probe") == 1


def test_a_plain_redis_url_to_the_tls_port_fails_clearly(tls: Server) -> None:
    config = parse_config({"redis": {"url": f"redis://127.0.0.1:{tls.port}/0", "password": PASSWORD, "connect_timeout_s": 2}})
    with pytest.raises(RedisUnavailable, match=f"cannot reach Redis at redis://127.0.0.1:{tls.port}/0") as info:
        connect(config.redis)
    assert PASSWORD not in str(info.value)


def test_a_server_certificate_from_an_unknown_ca_is_refused_with_a_hint(tls: Server, certs: Certs) -> None:
    """Without redis.tls_ca_file the system's CAs are used; they did not sign the throwaway certificate."""
    for options in ({}, {"tls_ca_file": str(certs.other_ca)}):
        with pytest.raises(RedisUnavailable) as info:
            connect(redis_section(tls.port, **options))
        message = str(info.value)
        assert "CERTIFICATE_VERIFY_FAILED" in message and "redis.tls_ca_file" in message, message
        assert PASSWORD not in message


def test_tls_insecure_skips_verification(tls: Server) -> None:
    assert connect(redis_section(tls.port, tls_insecure=True)).ping()


def test_the_host_name_is_verified(tls: Server, certs: Certs) -> None:
    """The certificate names 127.0.0.1 and localhost; the server also listens on 127.0.0.2, which it does not name."""
    config = parse_config({"redis": {"url": f"rediss://127.0.0.2:{tls.port}/0", "password": PASSWORD, "tls_ca_file": str(certs.ca), "connect_timeout_s": 2}})
    with pytest.raises(RedisUnavailable, match=r"mismatch.*does not name this host"):
        connect(config.redis)
    insecure = config.redis.model_copy(update={"tls_insecure": True})
    assert connect(insecure).ping(), "the server is reachable at 127.0.0.2: only the name check refused it"


def test_a_missing_ca_file_is_named(tls: Server, tmp_path: Path) -> None:
    with pytest.raises(RedisUnavailable, match=r"redis\.tls_ca_file .*missing\.pem is not a readable file"):
        connect(redis_section(tls.port, tls_ca_file=str(tmp_path / "missing.pem")))


def test_mutual_tls_with_a_client_certificate(mtls: Server, certs: Certs) -> None:
    config = redis_section(mtls.port, tls_ca_file=str(certs.ca), tls_cert_file=str(certs.client_cert), tls_key_file=str(certs.client_key))
    assert connect(config).ping()


def test_mutual_tls_without_a_client_certificate_is_refused(mtls: Server, certs: Certs) -> None:
    with pytest.raises(RedisUnavailable) as info:
        connect(redis_section(mtls.port, tls_ca_file=str(certs.ca)))
    assert PASSWORD not in str(info.value)


def test_an_aggregator_runs_over_tls(tls: Server, certs: Certs, prefix: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = parse_config(
        {
            "redis": {"url": f"rediss://127.0.0.1:{tls.port}/0", "password": PASSWORD, "tls_ca_file": str(certs.ca), "prefix": prefix},
            "aggregator": {"summary_dir": str(tmp_path / "sessions"), "end_grace_s": 10},
        }
    )
    worker = AggregatorWorker(config, consumer="tls-test")
    admin = redis.Redis(host="127.0.0.1", port=tls.port, password=PASSWORD, ssl=True, ssl_ca_certs=str(certs.ca))
    publish_session(admin, Keys(prefix), "cam1-tls", ["neutral"] * 3)
    with caplog.at_level(logging.INFO):
        summary = serve_until_summary(worker, admin, "cam1-tls", logs=lambda: caplog.text)
    assert summary["faces"] == 3


@pytest.mark.parametrize(
    ("redis_options", "error"),
    [
        ({"url": "redis://127.0.0.1:6379/0", "tls_ca_file": "ca.pem"}, "redis.tls_ca_file needs a rediss:// URL"),
        ({"tls_insecure": True}, "redis.tls_insecure needs a rediss:// URL"),
        ({"url": "rediss://h:6379/0", "tls_key_file": "k.pem"}, "tls_key_file needs redis.tls_cert_file"),
        ({"url": "http://h:6379/0"}, "redis.url: .*must start with redis://"),
    ],
)
def test_inconsistent_tls_settings_are_configuration_errors(redis_options: dict[str, Any], error: str) -> None:
    with pytest.raises(ConfigError, match=error):
        parse_config({"redis": redis_options})
