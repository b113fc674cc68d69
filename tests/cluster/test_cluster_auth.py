"""A cluster that requires a password, and an ACL user: as on a single Redis, and one clear line when they are wrong."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from emostream.classifier.cluster_commit import ClusterCommit
from emostream.classifier.commit import Classified, Committed
from emostream.config import RedisConfig
from emostream.streams.connection import connect
from emostream.streams.errors import RedisPermissionDenied
from emostream.streams.group_commands import ensure_group
from emostream.streams.keys import CLASSIFIER_GROUP, Keys
from tests.security.servers import acl_rule_from_docs
from tests.support.cluster import RedisClusterServer, command

from .test_cluster_startup import emostream

PASSWORD = "s3cret-cluster-pw"
USER, USER_PASSWORD = "emo-worker", "s3cret-user-pw"


@pytest.fixture(scope="module")
def protected_cluster() -> Iterator[RedisClusterServer]:
    cluster = RedisClusterServer(masters=3, password=PASSWORD).start()
    for node in cluster.nodes:  # ACL users are per node: a deployment creates them on every one
        command(node.client(), "ACL", "SETUSER", USER, "on", f">{USER_PASSWORD}", "~*", "+@all")
    yield cluster
    cluster.stop()


@pytest.mark.parametrize("credentials", [{"password": PASSWORD}, {"username": USER, "password": USER_PASSWORD}], ids=["password", "acl-user"])
def test_the_cluster_client_authenticates_on_every_node(protected_cluster: RedisClusterServer, credentials: dict[str, str]) -> None:
    client: redis.RedisCluster = connect(RedisConfig(url=protected_cluster.url, cluster=True, **credentials))  # type: ignore[assignment]
    keys = [f"k{i}" for i in range(30)]  # on every master
    for key in keys:
        client.set(key, key)
    assert [client.get(k) for k in keys] == [k.encode() for k in keys]
    assert len({protected_cluster.master_of(k).port for k in keys}) == 3


def test_a_wrong_cluster_password_is_one_line_without_the_password(protected_cluster: RedisClusterServer, tmp_path: Path) -> None:
    env = {"EMOSTREAM_REDIS__URL": protected_cluster.url, "EMOSTREAM_REDIS__CLUSTER": "true", "EMOSTREAM_REDIS__PASSWORD": "wrong-pw-42"}
    code, lines = emostream(["sources", "list"], env, tmp_path)
    assert code == 2 and len(lines) == 1, lines
    assert "refused the credentials of user 'default'" in lines[0] and "wrong-pw-42" not in lines[0], lines


def test_a_cluster_password_not_configured_says_so(protected_cluster: RedisClusterServer, tmp_path: Path) -> None:
    code, lines = emostream(["sources", "list"], {"EMOSTREAM_REDIS__URL": protected_cluster.url, "EMOSTREAM_REDIS__CLUSTER": "true"}, tmp_path)
    assert code == 2 and len(lines) == 1, lines
    assert "requires a password and none is configured" in lines[0], lines


def documented_user(cluster: RedisClusterServer, name: str, extra: list[str]) -> None:
    """The ACL user docs/deploy.md documents (for the prefix ``emostream``), without its cluster grants, plus ``extra``; on every node."""
    rule = [r for r in acl_rule_from_docs(name, USER_PASSWORD, "emostream") if not r.startswith("+cluster")]
    for node in cluster.nodes:
        command(node.client(), "ACL", "SETUSER", *rule, *extra)


def test_the_documented_acl_user_with_the_cluster_grants_commits_on_the_cluster(protected_cluster: RedisClusterServer) -> None:
    documented_user(protected_cluster, "emo-acl", ["+cluster|slots", "+cluster|info"])
    client = connect(RedisConfig(url=protected_cluster.url, cluster=True, username="emo-acl", password=USER_PASSWORD))
    keys = Keys("emostream")
    commit = ClusterCommit(client, keys, CLASSIFIER_GROUP, events_maxlen=1000, window_ms=60_000)
    shard = keys.face_shards(6)[0]
    ensure_group(client, shard, CLASSIFIER_GROUP)
    for i in range(6):
        client.xadd(shard, {"n": str(i)})
    reply: Any = client.xreadgroup(CLASSIFIER_GROUP, "c1", {shard: ">"}, count=6)
    classified = [Classified(shard, eid, f"cam{i}", f"cam{i}-s:0:1", b"{}") for i, (eid, _) in enumerate(reply[0][1])]
    assert commit(classified, []) == Committed(6, 0)


def test_an_acl_user_without_the_cluster_grants_is_told_which(protected_cluster: RedisClusterServer) -> None:
    documented_user(protected_cluster, "emo-nocluster", [])
    with pytest.raises(RedisPermissionDenied, match=r"may not run CLUSTER SLOTS.*\+cluster\|slots \+cluster\|info"):
        connect(RedisConfig(url=protected_cluster.url, cluster=True, username="emo-nocluster", password=USER_PASSWORD))
