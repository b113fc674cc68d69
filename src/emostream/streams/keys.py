"""Every Redis key and stream name, and every stream's cap, in one place.

Caps are ``MAXLEN ~`` (approximate: Redis trims whole macro nodes, so a stream
may hold up to about a hundred entries more). The events, faces and tracks
caps are configurable (``redis.events_maxlen``, ``redis.faces_maxlen``,
``tracks.maxlen``); the ones here are fixed because they bound emostream's own
bookkeeping, not a user's data.
"""

from __future__ import annotations

from dataclasses import dataclass

CLASSIFIER_GROUP = "classifiers"
AGGREGATOR_GROUP = "aggregators"
SCHEMA_VERSION = "1"

LIFECYCLE_MAXLEN = 100_000  # session start/end messages: two per session
SESSIONS_MAXLEN = 100_000  # published session summaries
DEADLETTER_MAXLEN = 10_000  # refused entries, each at most DEADLETTER_PAYLOAD_BYTES per field
DEADLETTER_PAYLOAD_BYTES = 8_192  # a dead letter keeps this much of each original field, and its size
SESSION_STATE_TTL_S = 3_600  # a summarised session's working state is kept this long, to recognise late duplicates


@dataclass(frozen=True)
class Keys:
    prefix: str = "emostream"

    @property
    def faces(self) -> str:
        """Internal work queue: one entry per detected face, crop inline."""
        return f"{self.prefix}:faces"

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

    def agg(self, session_id: str, part: str) -> str:
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
        return f"{self.prefix}:preview:{source}:meta"

    @property
    def classifier_stats(self) -> str:
        """Hash: classifier consumer -> JSON of its recent forward-pass time, read by ingest's backpressure (see ingest/probe.py)."""
        return f"{self.prefix}:classifiers:stats"

    def checkpoint(self, source: str) -> str:
        """Ingest: where the source's open session stands (see ingest/checkpoint.py)."""
        return f"{self.prefix}:ingest:checkpoint:{source}"

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
