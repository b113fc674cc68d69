"""A cluster on TLS only (clients, bus, replication): rediss:// with the CA file, as on a single Redis."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from emostream.config import RedisConfig
from emostream.streams.connection import connect
from emostream.streams.errors import RedisUnavailable, RedisUnreachable
from tests.security.servers import Certs, make_certs
from tests.support.cluster import ClusterTls, RedisClusterServer


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("cluster-certs"))


@pytest.fixture(scope="module")
def tls_cluster(certs: Certs) -> Iterator[RedisClusterServer]:
    cluster = RedisClusterServer(masters=3, tls=ClusterTls(certs.ca, certs.server_cert, certs.server_key, certs.client_cert, certs.client_key)).start()
    yield cluster
    cluster.stop()


def test_rediss_with_the_ca_file_reaches_every_master(tls_cluster: RedisClusterServer, certs: Certs) -> None:
    assert tls_cluster.url.startswith("rediss://")
    client = connect(RedisConfig(url=tls_cluster.url, cluster=True, tls_ca_file=certs.ca))
    keys = [f"k{i}" for i in range(30)]
    for key in keys:
        client.set(key, key)
    assert [client.get(k) for k in keys] == [k.encode() for k in keys]
    assert isinstance(client, redis.RedisCluster)


def test_a_certificate_from_an_unknown_ca_is_refused_with_a_hint_not_waited_for(tls_cluster: RedisClusterServer, certs: Certs) -> None:
    with pytest.raises(RedisUnavailable, match=r"set redis\.tls_ca_file to the CA") as refused:
        connect(RedisConfig(url=tls_cluster.url, cluster=True, tls_ca_file=certs.other_ca, connect_timeout_s=2))
    assert not isinstance(refused.value, RedisUnreachable), "a certificate problem does not go away by waiting"
