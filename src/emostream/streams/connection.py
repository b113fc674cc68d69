"""Redis connections: options, credentials, TLS, and start-up errors that say what to fix.

Workers connect to Redis only through :func:`connect`, so connection options,
credentials and TLS live in one place; retrying while Redis is down is
:mod:`emostream.streams.reconnect`, the server ``emostream run`` starts when no
URL is configured is :mod:`emostream.streams.embedded`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast
from urllib.parse import urlsplit

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.retry import Retry

from emostream.config import RedisConfig
from emostream.infra.redact import redact, scrub
from emostream.streams.errors import ACL_HINT, RedisPermissionDenied, RedisUnavailable, RedisUnreachable

# A cluster answers CLUSTERDOWN (no master for a slot yet) and TRYAGAIN while a failover or resharding is under way: wait like for a restart.
RETRYABLE = (redis.ConnectionError, redis.TimeoutError, ConnectionError, OSError, redis.exceptions.ClusterDownError, redis.exceptions.TryAgainError)


def tls_options(cfg: RedisConfig, target: str) -> dict[str, Any]:
    """redis-py's ``ssl_*`` arguments for a ``rediss://`` URL; none for other schemes.

    Passed only for ``rediss://``: redis-py hands them to the connection class,
    and the plain TCP connection does not accept them.
    """
    if not target.startswith("rediss://"):
        return {}
    options: dict[str, Any] = {"ssl_cert_reqs": "none" if cfg.tls_insecure else "required", "ssl_check_hostname": not cfg.tls_insecure}
    for name, option in (("tls_ca_file", "ssl_ca_certs"), ("tls_cert_file", "ssl_certfile"), ("tls_key_file", "ssl_keyfile")):
        path = getattr(cfg, name)
        if path is None:
            continue
        if not path.is_file():  # else the TLS handshake fails later with a vaguer error
            raise RedisUnavailable(f"redis.{name} {path} is not a readable file")
        options[option] = str(path)
    return options


def connect(cfg: RedisConfig, url: str | None = None, check: bool = True, retries: int = 3, max_connections: int | None = None) -> redis.Redis:
    """A client for ``url`` (default: the configured one), pinged once so start-up fails fast.

    ``retries`` is how often redis-py itself repeats a command whose connection
    failed. That suits readers, but it repeats a write whose reply was lost after
    Redis executed it (a restart in the middle of EXEC): the workers pass 0 and
    retry through :class:`Reconnector`, which asks first whether the write landed.

    ``max_connections`` caps the connection pool (one per node on a cluster); None keeps redis-py's default.

    Credentials come from the URL, or ``redis.username`` and ``redis.password``/``password_file``.
    Every error message names the server by its redacted URL and never contains the password.
    """
    target = url or cfg.url
    if not target:
        raise RedisUnavailable("no Redis URL configured (redis.url or EMOSTREAM_REDIS__URL)")
    password = cfg.resolved_password() or None
    where = redact(target)

    def clean(exc: BaseException) -> str:
        return scrub(str(exc), (password or "",)) or type(exc).__name__

    options: dict[str, Any] = dict(
        username=cfg.username or None,
        password=password,
        decode_responses=False,
        socket_connect_timeout=cfg.connect_timeout_s,
        socket_keepalive=True,
        health_check_interval=15,
        retry=Retry(ExponentialWithJitterBackoff(base=0.05, cap=1.0), retries=retries),
        **tls_options(cfg, target),
    )
    if max_connections is not None:
        options["max_connections"] = max_connections
    if cfg.cluster:
        return _connect_cluster(target, options, where, clean)
    try:
        client = redis.Redis.from_url(target, **options)
    except ValueError as exc:  # malformed URL (port, query arguments)
        raise RedisUnavailable(f"invalid Redis URL {where}: {clean(exc)}") from None
    if check:
        _check(client, cfg.username or _url_user(target) or "default", target, where, password, clean)
    return client


def _check(client: redis.Redis, user: str, target: str, where: str, password: str | None, clean: Callable[[BaseException], str]) -> None:
    """PING once, turning each way it can fail into a start-up error that says what to fix."""
    try:
        client.ping()
    except redis.AuthenticationError as exc:
        if not password and not _url_has_password(target):
            # redis-py's own words here are "HELLO must be called with the client already authenticated..."
            raise RedisUnavailable(
                f"Redis at {where} requires a password and none is configured "
                "(set redis.password, redis.password_file or EMOSTREAM_REDIS__PASSWORD)"
            ) from None
        raise RedisUnavailable(f"Redis at {where} refused the credentials of user {user!r}: {clean(exc)}") from None
    except redis.exceptions.NoPermissionError as exc:
        raise RedisPermissionDenied(f"Redis at {where}: user {user!r} may not run PING: {clean(exc)}; {ACL_HINT}") from None
    except RETRYABLE as exc:
        hint = _certificate_hint(str(exc))
        error = RedisUnavailable if hint else RedisUnreachable  # a certificate problem does not go away by waiting
        raise error(f"cannot reach Redis at {where}: {clean(exc)}{hint}") from None
    except redis.ResponseError as exc:  # e.g. AUTH sent to a server without a password
        raise RedisUnavailable(f"Redis at {where} refused the connection: {clean(exc)}") from None
    _refuse_cluster_node(client, where)


def _certificate_hint(text: str) -> str:
    if "mismatch, certificate is not valid" in text:
        return " (the server's certificate does not name this host: connect by a name or address it carries)"
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return " (set redis.tls_ca_file to the CA that signed the server's certificate)"
    return ""


def _refuse_cluster_node(client: redis.Redis, where: str) -> None:
    """A single-Redis client on a cluster node works until the first key of another node's slot (MOVED): say so at start-up."""
    try:
        enabled = client.info("cluster").get("cluster_enabled")
    except redis.RedisError:  # an ACL without INFO, or a Redis-compatible server without the section: no check
        return
    if str(enabled) == "1":
        raise RedisUnavailable(f"Redis at {where} is a Redis Cluster node: set redis.cluster: true (EMOSTREAM_REDIS__CLUSTER=true)")


def _refuse_cluster_slots(target: str, options: dict[str, Any], where: str) -> None:
    """Raise :class:`RedisPermissionDenied` if the ACL user may not read the slot map (else the server is simply not a cluster)."""
    plain = redis.Redis.from_url(target, **options)
    try:
        plain.execute_command("CLUSTER", "SLOTS")  # type: ignore[no-untyped-call]
    except redis.exceptions.NoPermissionError:
        raise RedisPermissionDenied(
            f"Redis Cluster at {where}: the user may not run CLUSTER SLOTS, which a cluster client needs "
            f"(grant +cluster|slots +cluster|info); {ACL_HINT}"
        ) from None
    except redis.RedisError:
        return
    finally:
        plain.close()


def _connect_cluster(target: str, options: dict[str, Any], where: str, clean: Callable[[BaseException], str]) -> redis.Redis:
    """A :class:`redis.RedisCluster` seeded by ``target``; it learns the other nodes and the slot map at once.

    Typed as :class:`redis.Redis` on purpose: the cluster client has the same
    command methods, and every module then takes one client type. What differs
    (no MULTI/EXEC or script across slots, no blocking read over several
    nodes) is handled where those are used (``streams.groups``, ``classifier.cluster_commit``).
    """
    try:
        client = redis.RedisCluster.from_url(target, require_full_coverage=True, **options)
        state = client.cluster_info(target_nodes=redis.RedisCluster.RANDOM).get("cluster_state")
    except ValueError as exc:
        raise RedisUnavailable(f"invalid Redis URL {where}: {clean(exc)}") from None
    except redis.AuthenticationError as exc:
        raise RedisUnavailable(f"Redis Cluster at {where} refused the credentials: {clean(exc)}") from None
    except redis.exceptions.NoPermissionError as exc:
        raise RedisPermissionDenied(f"Redis Cluster at {where}: the user may not read the cluster's layout: {clean(exc)}; {ACL_HINT}") from None
    except redis.exceptions.RedisClusterException as exc:
        text = clean(exc)
        if "Cluster mode is not enabled" in text:  # redis-py's words for any error of CLUSTER SLOTS, a refused one too
            _refuse_cluster_slots(target, options, where)
            hint = "set redis.cluster: false, or give a cluster node's URL"
            raise RedisUnavailable(f"Redis at {where} is not a cluster (redis.cluster is true): {hint}") from None
        if "slots are not covered" in text:
            raise RedisUnavailable(f"Redis Cluster at {where} does not cover every hash slot (cluster_state fail): {text}") from None
        unauthenticated = "HELLO must be called" in text or "NOAUTH" in text or "Authentication required" in text
        if unauthenticated and not options["password"] and not _url_has_password(target):
            raise RedisUnavailable(
                f"Redis Cluster at {where} requires a password and none is configured "
                "(set redis.password, redis.password_file or EMOSTREAM_REDIS__PASSWORD)"
            ) from None
        if unauthenticated or "username-password" in text or "WRONGPASS" in text:
            user = options["username"] or _url_user(target) or "default"
            raise RedisUnavailable(f"Redis Cluster at {where} refused the credentials of user {user!r}") from None
        if "CERTIFICATE_VERIFY_FAILED" in text or "certificate is not valid" in text:  # waiting would not help
            raise RedisUnavailable(f"cannot reach Redis Cluster at {where}: {text}{_certificate_hint(text)}") from None
        raise RedisUnreachable(f"cannot reach Redis Cluster at {where}: {text}") from None
    except RETRYABLE as exc:
        raise RedisUnreachable(f"cannot reach Redis Cluster at {where}: {clean(exc)}") from None
    if state != "ok":
        client.close()
        raise RedisUnavailable(f"Redis Cluster at {where} is not serving: cluster_state {state} (a slot without a master?)")
    return cast(redis.Redis, client)


def _url_has_password(url: str) -> bool:
    try:
        return bool(urlsplit(url).password)
    except ValueError:
        return False


def _url_user(url: str) -> str | None:
    try:
        return urlsplit(url).username or None
    except ValueError:
        return None
