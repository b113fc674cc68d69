"""Consumer groups: the reader the classifier, aggregator and subscriber share.

The single commands it is built from (create, claim, count, backlog) are
:mod:`emostream.streams.group_commands`.

Details at :class:`GroupReader`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import redis

from emostream.streams.deadletter import DeadLetterHook, dead_letter_fields
from emostream.streams.group_commands import (
    Entry,
    StreamEntries,
    autoclaim,
    backlog,
    delete_consumer_if_idle,
    delivery_counts,
    ensure_group,
    is_nogroup,
)
from emostream.streams.keys import DEADLETTER_MAXLEN
from emostream.streams.loglimit import LogLimiter
from emostream.streams.topology import topology_of

log = logging.getLogger(__name__)



class GroupReader:
    """Reads streams through the consumer group ``group`` as ``consumer``.

    ``max_deliveries`` None never dead-letters claimed entries (a subscriber has
    no dead-letter stream of its own); ``deadletter`` None refuses :meth:`dead_letter`.

    A :class:`GroupReader` reads some streams through one consumer group as one
    consumer. Besides reading it does the four things every reader of a group
    needs and which used to be copied into each of them:

    - **claim**: entries left pending by a consumer that died (under any name) for
      ``claim_idle_ms`` are taken over with ``XAUTOCLAIM``, about every half idle
      time, or at once again while claims come back as full pages (a large
      backlog of a dead replica is then recovered at full speed);
    - **count deliveries**: a claimed entry already delivered more than
      ``max_deliveries`` times is a poison entry;
    - **dead-letter**: such an entry, or one its owner cannot decode, goes to
      ``<prefix>:deadletter`` with the reason and is acknowledged in the same
      transaction, so it never blocks the group and is never lost;
    - **recreate a lost group**: a Redis restarted without persistence answers
      ``NOGROUP``; the reader recreates its groups and carries on.

    Reconnecting after a lost connection is not its job: each worker runs its
    whole step under ``streams.reconnect.Reconnector``, which also covers its writes.

    On a Redis Cluster one ``XREADGROUP`` cannot name streams of different slots
    (CROSSSLOT), and one blocking read can wait on one node only. There the
    reader asks each stream in one pipeline (a round trip per node). A caller
    that names the streams gets them in its order, each for ``count`` entries as
    ``XREADGROUP`` gives them on one Redis (the classifier shares its batch out
    itself, ``classifier.shards.read_order``); reading every followed stream, each
    gets an equal share of ``count``, starting at the next stream every time so
    none starves. When nothing came and the caller would block, it polls every
    :data:`~emostream.streams.topology.CLUSTER_POLL_S` until the block time is over. A single stream is read
    as on one Redis, with a real ``BLOCK``. A dead letter and its acknowledgement
    are in different slots there: the letter is written first, so a crash between
    the two repeats the letter, never loses the entry.
    """

    def __init__(
        self,
        client: redis.Redis,
        group: str,
        consumer: str,
        *,
        claim_idle_ms: int | None,
        max_deliveries: int | None = None,
        claim_count: int = 500,
        deadletter: str | None = None,
        keep_pixels: bool = False,
        acked_deleted: bool = False,
        on_dead_letter: DeadLetterHook | None = None,
        on_claimed: Callable[[int], None] | None = None,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.topology = topology_of(client)
        self.group = group
        self.consumer = consumer
        self.claim_idle_ms = claim_idle_ms
        self.max_deliveries = max_deliveries
        self.claim_count = claim_count
        self.deadletter = deadletter
        self.acked_deleted = acked_deleted  # consumers delete what they finish: dead letters too, backlog is XLEN
        self.keep_pixels = keep_pixels
        self.on_dead_letter = on_dead_letter
        self.on_claimed = on_claimed
        self.wall = wall
        self.monotonic = monotonic
        self.sleep = sleep
        self.streams: dict[str, str] = {}  # stream -> the id its group was created at
        self.dead = 0
        self._dead_log = LogLimiter(log)  # a flood of bad entries logs a few lines a minute per kind, then a count
        self.recreated = 0
        self._next_claim = 0.0

    # --- streams --------------------------------------------------------------------

    def follow(self, stream: str, start: str = "0") -> bool:
        """Read ``stream`` from now on (creating its group at ``start`` if needed); False if already followed."""
        if stream in self.streams:
            return False
        ensure_group(self.client, stream, self.group, start)
        self.streams[stream] = start
        return True

    def recreate(self) -> None:
        """Recreate the group of every followed stream (after a Redis restart without persistence)."""
        self.recreated += 1
        log.warning("%s: consumer group %r is gone (Redis restarted empty?); recreating it", self.consumer, self.group)
        for stream, start in self.streams.items():
            ensure_group(self.client, stream, self.group, start)

    def _guard(self, op: Callable[[], StreamEntries]) -> StreamEntries:
        try:
            return op()
        except redis.ResponseError as exc:
            if not is_nogroup(exc):
                raise
            self.recreate()
            return []

    # --- reading --------------------------------------------------------------------

    def read(self, count: int, block_ms: int | None, streams: list[str] | None = None) -> StreamEntries:
        """New entries of ``streams`` (default: every followed one), up to ``count`` from each; ``block_ms`` None returns at once.

        On a cluster, streams named by the caller are read in its order; the
        default reads every followed one round-robin, ``count`` shared out
        between them (see the class docstring).
        """
        wanted = list(dict.fromkeys(self.streams if streams is None else streams))
        if not wanted:
            return []
        return self.topology.read(self, wanted, count, block_ms, named=streams is not None)

    def xread(self, wanted: list[str], count: int, block_ms: int | None) -> StreamEntries:
        """One ``XREADGROUP`` of every stream of ``wanted`` (see ``streams.topology``)."""

        def op() -> StreamEntries:
            reply: Any = self.client.xreadgroup(self.group, self.consumer, dict.fromkeys(wanted, ">"), count=count, block=block_ms)
            return [(raw.decode(), list(entries)) for raw, entries in reply or []]

        return self._guard(op)

    def xread_each(self, order: list[str], each: int) -> StreamEntries:
        """One non-blocking ``XREADGROUP`` per stream, in one pipeline, in ``order`` (see ``streams.topology``)."""

        def op() -> StreamEntries:
            pipe = self.client.pipeline(transaction=False)
            for stream in order:
                pipe.xreadgroup(self.group, self.consumer, {stream: ">"}, count=each)
            out: StreamEntries = []
            for reply in pipe.execute():
                out.extend((raw.decode(), list(entries)) for raw, entries in reply or [] if entries)
            return out

        return self._guard(op)

    def pending(self, stream: str, count: int, after: str = "0") -> list[Entry]:
        """This consumer's own unacknowledged entries of ``stream`` after ``after`` (a restart's unfinished work)."""

        def op() -> StreamEntries:
            reply: Any = self.client.xreadgroup(self.group, self.consumer, {stream: after}, count=count)
            return [(raw.decode(), list(entries)) for raw, entries in reply or []]

        return [entry for _, entries in self._guard(op) for entry in entries]

    def claim(self) -> StreamEntries:
        """Entries idle at other consumers, when a claim is due; poison ones are dead-lettered, not returned."""
        if self.claim_idle_ms is None:
            return []
        now = self.monotonic()
        if now < self._next_claim:
            return []
        idle_ms = self.claim_idle_ms
        full = False

        def op() -> StreamEntries:
            nonlocal full
            out: StreamEntries = []
            for stream in list(self.streams):
                claimed = autoclaim(self.client, stream, self.group, self.consumer, idle_ms, self.claim_count)
                full = full or len(claimed) >= self.claim_count
                if claimed:
                    if self.on_claimed is not None:
                        self.on_claimed(len(claimed))
                    keep = self._sort_out_poison(stream, claimed)
                    if keep:
                        log.info("%s: claimed %d pending entries of %s from stopped consumers", self.consumer, len(keep), stream)
                        out.append((stream, keep))
            return out

        result = self._guard(op)
        # A full page means a dead consumer may hold more: look again at the next call.
        self._next_claim = now if full else now + idle_ms / 2000.0
        return result

    def _sort_out_poison(self, stream: str, claimed: list[Entry]) -> list[Entry]:
        if self.max_deliveries is None:
            return claimed
        counts = delivery_counts(self.client, stream, self.group, [eid for eid, _ in claimed])
        keep = []
        for eid, fields in claimed:
            times = counts.get(eid, 0)
            if times > self.max_deliveries:
                self.dead_letter(stream, eid, fields, f"delivered {times} times without success", "max_deliveries")
            else:
                keep.append((eid, fields))
        return keep

    # --- finishing entries ----------------------------------------------------------

    def ack(self, stream: str, ids: list[bytes] | list[str], pipe: Any = None) -> None:
        """Acknowledge ``ids`` of ``stream``, on ``pipe`` if given (to share a transaction with a write)."""
        if ids:
            (pipe or self.client).xack(stream, self.group, *ids)

    def dead_letter(self, stream: str, entry_id: bytes, fields: dict[bytes, bytes], reason: str, kind: str = "malformed") -> None:
        """Move one entry to the dead-letter stream with ``reason`` and acknowledge it, in one transaction."""
        if self.deadletter is None:
            raise RuntimeError("this reader has no dead-letter stream")
        letter: Any = dead_letter_fields(stream, entry_id, fields, reason, self.consumer, self.wall(), keep_pixels=self.keep_pixels)
        deadletter = self.deadletter

        def ack(pipe: Any) -> None:
            pipe.xack(stream, self.group, entry_id)
            if self.acked_deleted:
                pipe.xdel(stream, entry_id)  # the letter keeps a copy; the queue's length stays its backlog

        # Two slots on a cluster: the letter first (see the class docstring).
        self.topology.together(self.client, lambda c: c.xadd(deadletter, letter, maxlen=DEADLETTER_MAXLEN, approximate=True), ack)
        self.dead += 1
        self._dead_log.warning(kind, "%s: entry %s of %s dead-lettered: %s", self.consumer, entry_id.decode(errors="replace"), stream, reason)
        if self.on_dead_letter is not None:
            self.on_dead_letter(kind, reason)

    def backlog(self, stream: str) -> int:
        return backlog(self.client, stream, self.group, acked_deleted=self.acked_deleted)

    def leave(self, stream: str) -> bool:
        """Delete this consumer from the group on ``stream`` if it holds nothing; see :func:`delete_consumer_if_idle`."""
        return delete_consumer_if_idle(self.client, stream, self.group, self.consumer)
