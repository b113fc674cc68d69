"""The commit step: publish a batch's events and drop notices, acknowledge and delete its face jobs.

This is the one place that decides what "done" means for a face, so it is a
small object of its own, swappable per deployment: :class:`ScriptCommit` for a
single Redis (one Lua call, atomic); a Redis Cluster, where a source's events
and the faces shard live in different slots, needs a variant of its own.

Details at :class:`ScriptCommit`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple, Protocol

import redis

from emostream.streams.keys import LIFECYCLE_MAXLEN, SCHEMA_VERSION, Keys
from emostream.streams.lifecycle import FacesDropped
from emostream.streams.wire import dumps

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


# KEYS: every stream the batch touches. ARGV: group, schema version, events maxlen, lifecycle maxlen,
# the dropped type, then the events (faces key, entry id, events key, JSON) and the drop notices
# (lifecycle key, JSON before the ids, JSON after them, count, then per face: faces key, entry id, "event id").
SCRIPT = """
local group, v, events_maxlen, lifecycle_maxlen, dropped_type = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local i, classified, dropped = 7, 0, 0
for _ = 1, tonumber(ARGV[6]) do
  local faces, id = KEYS[tonumber(ARGV[i])], ARGV[i + 1]
  if redis.call('XACK', faces, group, id) == 1 then
    redis.call('XADD', KEYS[tonumber(ARGV[i + 2])], 'MAXLEN', '~', events_maxlen, '*', 'v', v, 'data', ARGV[i + 3])
    redis.call('XDEL', faces, id)
    classified = classified + 1
  end
  i = i + 4
end
local notices = tonumber(ARGV[i])
i = i + 1
for _ = 1, notices do
  local lifecycle, head, tail, n = KEYS[tonumber(ARGV[i])], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3])
  i = i + 4
  local ids = {}
  for _ = 1, n do
    local faces, id = KEYS[tonumber(ARGV[i])], ARGV[i + 1]
    if redis.call('XACK', faces, group, id) == 1 then
      ids[#ids + 1] = ARGV[i + 2]
      redis.call('XDEL', faces, id)
    end
    i = i + 3
  end
  if #ids > 0 then
    redis.call('XADD', lifecycle, 'MAXLEN', '~', lifecycle_maxlen, '*', 'v', v, 'type', dropped_type,
      'data', head .. table.concat(ids, ',') .. tail)
    dropped = dropped + #ids
  end
end
return {classified, dropped}
"""


def notice_parts(source: str, session: str) -> tuple[bytes, bytes]:
    """A FacesDropped document split around its (empty) list of event ids, for the script to fill in."""
    whole = dumps(asdict(FacesDropped(source, session, DROP_REASON, ())))
    if not whole.endswith(b"[]}"):
        raise AssertionError(f"event_ids is no longer the last field of FacesDropped: {whole!r}")
    return whole[:-2], whole[-2:]


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
        self.script = client.register_script(SCRIPT)  # EVALSHA, loading the script again after a Redis restart

    def __call__(self, classified: Sequence[Classified], dropped: Sequence[Dropped]) -> Committed:
        if len(classified) <= self.chunk:
            replies: list[Any] = [self.script(*self._arguments(classified, dropped))]
        else:
            pipe = self.client.pipeline(transaction=False)
            for start in range(0, len(classified), self.chunk):
                self.script(*self._arguments(classified[start : start + self.chunk], dropped if start == 0 else ()), client=pipe)
            replies = pipe.execute()
        return Committed(sum(int(reply[0]) for reply in replies), sum(int(reply[1]) for reply in replies))

    def _arguments(self, classified: Sequence[Classified], dropped: Sequence[Dropped]) -> tuple[list[str], list[Any]]:
        """KEYS and ARGV of one call (see SCRIPT)."""
        keys: dict[str, int] = {}

        def key(name: str) -> int:
            index = keys.get(name)
            if index is None:
                index = keys[name] = len(keys) + 1
            return index

        args: list[Any] = [self.group, SCHEMA_VERSION, self.events_maxlen, LIFECYCLE_MAXLEN, FacesDropped.kind, len(classified)]
        events = self.keys.events
        for event in classified:
            args += (key(event.stream), event.entry_id, key(events(event.source)), event.event)
        by_session: dict[tuple[str, str], list[Dropped]] = {}
        for drop in dropped:
            by_session.setdefault((drop.source, drop.session), []).append(drop)
        args.append(len(by_session))
        for (source, session), faces in by_session.items():
            head, tail = notice_parts(source, session)
            args += (key(self.keys.lifecycle), head, tail, len(faces))
            for drop in faces:
                args += (key(drop.stream), drop.entry_id, dumps(drop.event_id))
        return list(keys), args
