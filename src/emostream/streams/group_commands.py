"""The Redis commands on one consumer group, each with the edge cases of the server versions it meets.

Create a group, claim idle entries, count deliveries and the backlog, delete a
consumer that holds nothing. :class:`emostream.streams.groups.GroupReader`
combines them; ingest asks :func:`backlog` for its backpressure.
"""

from __future__ import annotations

from typing import Any

import redis

from emostream.streams.errors import ACL_HINT, RedisPermissionDenied

Entry = tuple[bytes, dict[bytes, bytes]]
StreamEntries = list[tuple[str, list[Entry]]]


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


def entry_ms(entry_id: bytes | str) -> int:
    """The millisecond time part of a stream entry id: when Redis appended the entry."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(text.partition("-")[0])


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


def is_nogroup(exc: redis.ResponseError) -> bool:
    return "NOGROUP" in str(exc)
