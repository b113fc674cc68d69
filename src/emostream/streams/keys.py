"""Every Redis key and stream name, and every stream's cap, in one place.

Caps are ``MAXLEN ~`` (approximate: Redis trims whole macro nodes, so a stream
may hold up to about a hundred entries more). The events, faces and tracks
caps are configurable (``redis.events_maxlen``, ``redis.faces_maxlen``,
``tracks.maxlen``); the ones here are fixed because they bound emostream's own
bookkeeping, not a user's data.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from itertools import count

from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot

CLASSIFIER_GROUP = "classifiers"
AGGREGATOR_GROUP = "aggregators"
SCHEMA_VERSION = "1"

LIFECYCLE_MAXLEN = 100_000  # session start/end messages: two per session
SESSIONS_MAXLEN = 100_000  # published session summaries
DEADLETTER_MAXLEN = 10_000  # refused entries, each at most DEADLETTER_PAYLOAD_BYTES per field
DEADLETTER_PAYLOAD_BYTES = 8_192  # a dead letter keeps this much of each original field, and its size
SESSION_STATE_TTL_S = 3_600  # a summarised session's working state is kept this long, to recognise late duplicates


class SessionPart(StrEnum):
    """The keys of one session's aggregator working state, ``<prefix>:agg:{<session>}:<part>`` (:meth:`Keys.agg`).

    All of them expire together a while after the session's close (``aggregator/session_close.py``).
    """

    STATE = "state"  # hash: source, times, counts of events and drops, the fence, the end message, ``summarised``
    SEEN = "seen"  # set: event ids counted (events and drops alike)
    EMOTIONS = "emotions"  # hash: count and time per emotion
    MINUTES = "minutes"  # hash: time per minute and emotion
    BUCKETS = "buckets"  # hash: time per chart bucket and emotion
    TRACKS = "tracks"  # hash: time per track and emotion, faces and first/last offset per track
    TRACK_STATE = "track_state"  # hash: track -> the active track's smoothing document
    TRACK_ENDED = "track_ended"  # hash: track -> the ended track's last document
    TRACK_CLOCK = "track_clock"  # the session's media clock: largest offset applied
    OUTBOX = "outbox"  # list: track events not yet moved to the public tracks stream
    CLOSING = "closing"  # cluster mode: the summary flagged for publication


@dataclass(frozen=True)
class Keys:
    prefix: str = "emostream"

    @property
    def faces(self) -> str:
        """Internal work queue: one entry per detected face, crop inline (the only shard when ``redis.faces_shards`` is 1)."""
        return f"{self.prefix}:faces"

    def face_shards(self, n: int) -> list[str]:
        """The faces queue split in ``n`` streams, ``<prefix>:faces:{tag}``, whose slots spread evenly over the 16384.

        Shard k's tag is chosen so its slot lies in the k-th n-th of the slot
        range: a cluster made by ``redis-cli --cluster create`` gives each master
        an even run of slots, so ``n`` = 2 × masters puts two shards on each.
        """
        if n == 1:
            return [self.faces]
        return [f"{self.prefix}:faces:{{{tag}}}" for tag in _shard_tags(n)]

    def face_shard(self, source: str, n: int) -> str:
        """The shard that carries ``source``'s faces: stable (CRC-32 of the id), so a source's order holds."""
        return self.face_shards(n)[_shard_index(source, n)]

    def _face_shard_tag(self, source: str, n: int) -> str:
        """What Redis hashes of the source's shard: its tag, or the whole name of the single stream."""
        return self.faces if n == 1 else _shard_tags(n)[_shard_index(source, n)]

    @property
    def lifecycle(self) -> str:
        """Internal: session start and end messages from ingest."""
        return f"{self.prefix}:lifecycle"

    @property
    def sessions(self) -> str:
        """Public: one entry per session summary."""
        return f"{self.prefix}:sessions"

    @property
    def deadletter(self) -> str:
        """Entries that could not be processed, with the reason (see ``deadletter``)."""
        return f"{self.prefix}:deadletter"

    @property
    def sources(self) -> str:
        """Set of source ids that have published."""
        return f"{self.prefix}:sources"

    def events(self, source: str) -> str:
        """Public: one emotion event per face."""
        return f"{self.prefix}:events:{source}"

    def source_of_events(self, stream: str) -> str:
        """The source id of an events stream name (the inverse of :meth:`events`)."""
        return stream[len(self.events("")) :]

    def published(self, events_stream: str, bucket: int) -> str:
        """Classifier, cluster mode: ids published to ``events_stream`` in one time bucket (see classifier/cluster_commit.py).

        Tagged with the stream's full name, so the guard and the stream share a slot and one Lua call covers both.
        """
        return f"{self.prefix}:published:{{{events_stream}}}:{bucket}"

    def summary_published(self, session_id: str) -> str:
        """Aggregator, cluster mode: set once the session's summary is appended to :attr:`sessions` (see aggregator/session_close.py).

        Tagged with that stream's name, so one Lua call in its slot checks the guard and appends.
        """
        return f"{self.prefix}:published:{{{self.sessions}}}:{session_id}"

    def tracks(self, source: str) -> str:
        """Public: track events (new, update, end) of one source."""
        return f"{self.prefix}:tracks:{source}"

    @property
    def sessions_index(self) -> str:
        """Sorted set of summarised session ids, scored by their end time (for listing)."""
        return f"{self.prefix}:sessions:index"

    def session(self, session_id: str) -> str:
        """Stored summary of one session."""
        return f"{self.prefix}:session:{session_id}"

    @property
    def open_sessions(self) -> str:
        """Aggregator: ids of sessions not yet summarised."""
        return f"{self.prefix}:agg:open"

    def agg(self, session_id: str, part: SessionPart) -> str:
        """Aggregator working state of one session. The session id is a hash tag, so
        every key of a session lives in one cluster slot and one Lua call can touch them all."""
        return f"{self.prefix}:agg:{{{session_id}}}:{part}"

    def ingest_sources(self, worker: str) -> str:
        """Hash: sources added to or removed from one ingest worker at run time (source id -> JSON command)."""
        return f"{self.prefix}:ingest:{worker}:sources"

    @property
    def ingest_workers(self) -> str:
        """Hash: ingest worker name -> JSON state (its sources, credentials masked, and a heartbeat time)."""
        return f"{self.prefix}:ingest:workers"

    def preview(self, source: str) -> str:
        """Live web view only: JPEG of the source's latest analysed frame (expires)."""
        return f"{self.prefix}:preview:{source}"

    def preview_meta(self, source: str) -> str:
        """The boxes of :meth:`preview`'s frame; tagged with that key's name, as both are written in one MULTI/EXEC (one cluster slot)."""
        return f"{self.prefix}:preview:{{{self.preview(source)}}}:meta"

    @property
    def classifier_stats(self) -> str:
        """Hash: classifier consumer -> JSON of its recent forward-pass time, read by ingest's backpressure (see ingest/probe.py)."""
        return f"{self.prefix}:classifiers:stats"

    def checkpoint(self, source: str, shards: int = 1) -> str:
        """Ingest: where the source's open session stands (see ingest/checkpoint.py).

        It carries the hash tag of the source's faces shard: a frame's face jobs
        and its checkpoint are one MULTI/EXEC, which a cluster runs only within one slot.
        """
        return f"{self.prefix}:ingest:checkpoint:{{{self._face_shard_tag(source, shards)}}}:{source}"

    # --- aggregators sharing the sources (see aggregator/leases.py) ---

    @property
    def aggregators(self) -> str:
        """Hash: aggregator member name -> its last heartbeat (epoch seconds)."""
        return f"{self.prefix}:agg:members"

    def agg_lease(self, source: str) -> str:
        """The lease of one source: ``<owner token> <deadline ms>``; the source id is the hash tag."""
        return f"{self.prefix}:agg:lease:{{{source}}}"

    def agg_epoch(self, source: str) -> str:
        """Hash of one source's lease history: ``epoch`` (the fencing token), last ``owner``, ``released``."""
        return f"{self.prefix}:agg:epoch:{{{source}}}"


def _shard_index(source: str, n: int) -> int:
    return zlib.crc32(source.encode()) % n


@lru_cache(maxsize=64)
def _shard_tags(n: int) -> tuple[str, ...]:
    """For each k < n the first tag ``k.j`` (j = 0, 1, ...) whose slot falls in the k-th n-th of the slots; fixed forever, as the names persist."""
    tags = []
    for k in range(n):
        low, high = k * REDIS_CLUSTER_HASH_SLOTS // n, (k + 1) * REDIS_CLUSTER_HASH_SLOTS // n
        tags.append(next(tag for tag in (f"{k}.{j}" for j in count()) if low <= key_slot(tag.encode()) < high))
    return tuple(tags)
