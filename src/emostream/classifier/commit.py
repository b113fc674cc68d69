"""The commit step: publish a batch's events and drop notices, acknowledge and delete its face jobs.

This is the one place that decides what "done" means for a face, so it is a
small object of its own, swappable per deployment: :class:`ScriptCommit` for a
single Redis (one Lua call, atomic); a Redis Cluster, where a source's events
and the faces shard live in different slots, needs a variant of its own.

Details at :class:`ScriptCommit`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import redis

from emostream.streams.commit_scripts import CommitScripts
from emostream.streams.keys import Keys
from emostream.streams.scripts import ScriptCall

DROP_REASON = "age"


class Classified(NamedTuple):
    """A face with its event."""

    stream: str  # the faces stream (shard) the job came from
    entry_id: bytes
    source: str
    event_id: str
    event: bytes  # the event's JSON document


class Dropped(NamedTuple):
    """A live face too old to be worth an event (see ``freshness``)."""

    stream: str
    entry_id: bytes
    source: str
    session: str
    event_id: str


@dataclass(frozen=True)
class Committed:
    """What a commit actually wrote: faces that another commit had finished already are not counted."""

    classified: int
    dropped: int


class Commit(Protocol):
    def __call__(self, classified: Sequence[Classified], dropped: Sequence[Dropped]) -> Committed:
        """Publish, acknowledge and delete one batch; safe to repeat (nothing is published twice)."""


class ScriptCommit:
    """A single Redis: a batch in one atomic Lua call (one round trip), or a few for thousands of faces.

    Redis runs nothing else while a script runs, about 10 µs a face here, so a
    batch of 16,384 in one call would hold up every other client (ingest's
    XADDs, the aggregator) for about 0.2 s. Batches larger than ``chunk`` faces
    are therefore committed as several calls sent in one pipeline: each face is
    still acknowledged and published atomically by its own call, which is all
    exactly-once needs.

    Exactly once, even when two replicas hold the same face (a slow replica whose
    entries another one claimed, or a replica that claimed its own in-flight
    entries back): inside the script each face is acknowledged first, and its
    event (or its place in a drop notice) is written only if that ``XACK``
    acknowledged it, i.e. if no commit did before. A repeated commit (a retry
    after a lost reply, a second holder) therefore publishes nothing twice, and
    one that failed half way leaves the rest pending for a retry. The commit that
    acknowledges a face deletes it from the queue too, so a crop stays in Redis
    only while it waits; a face no commit could acknowledge (its group was
    destroyed meanwhile) is left in the queue, to be read again once the group is
    recreated, rather than deleted unpublished.
    """

    def __init__(self, client: redis.Redis, keys: Keys, group: str, events_maxlen: int, chunk: int = 1024) -> None:
        self.client = client
        self.keys = keys
        self.group = group
        self.events_maxlen = events_maxlen
        self.chunk = chunk
        self.scripts = CommitScripts(client, keys)

    def __call__(self, classified: Sequence[Classified], dropped: Sequence[Dropped]) -> Committed:
        if len(classified) <= self.chunk:
            replies: list[Any] = [self._call(classified, dropped)()]
        else:
            pipe = self.client.pipeline(transaction=False)
            for start in range(0, len(classified), self.chunk):
                self._call(classified[start : start + self.chunk], dropped if start == 0 else ())(pipe)
            replies = pipe.execute()
        return Committed(sum(int(reply[0]) for reply in replies), sum(int(reply[1]) for reply in replies))

    def _call(self, classified: Sequence[Classified], dropped: Sequence[Dropped]) -> ScriptCall:
        """One script call committing ``classified`` and ``dropped`` (see ``streams/lua/commit_batch.lua``)."""
        return self.scripts.commit_batch(self.group, self.events_maxlen, DROP_REASON, classified, dropped)
