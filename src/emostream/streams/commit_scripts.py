"""The classifier's commit scripts: a whole batch on one Redis, a guarded publish per source on a cluster.

KEYS and ARGV are documented at ``streams/lua/commit_batch.lua`` and
``streams/lua/publish_events_once.lua``; nothing outside this module builds them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Protocol

import redis

from emostream.streams.keys import LIFECYCLE_MAXLEN, SCHEMA_VERSION, Keys
from emostream.streams.lifecycle import FacesDropped
from emostream.streams.scripts import ScriptArg, ScriptCall, lua_source, register
from emostream.streams.wire import dumps


class ClassifiedFace(Protocol):
    """A face job done, with its event (``classifier.commit.Classified``)."""

    @property
    def stream(self) -> str: ...  # the faces stream (shard) the job came from
    @property
    def entry_id(self) -> bytes: ...
    @property
    def source(self) -> str: ...
    @property
    def event(self) -> bytes: ...  # the event's JSON document


class DroppedFace(Protocol):
    """A face job dropped unclassified (``classifier.commit.Dropped``)."""

    @property
    def stream(self) -> str: ...
    @property
    def entry_id(self) -> bytes: ...
    @property
    def source(self) -> str: ...
    @property
    def session(self) -> str: ...
    @property
    def event_id(self) -> str: ...


def notice_parts(source: str, session: str, reason: str) -> tuple[bytes, bytes]:
    """A FacesDropped document split around its (empty) list of event ids, for the script to fill in."""
    whole = dumps(asdict(FacesDropped(source, session, reason, ())))
    if not whole.endswith(b"[]}"):
        raise AssertionError(f"event_ids is no longer the last field of FacesDropped: {whole!r}")
    return whole[:-2], whole[-2:]


class CommitScripts:
    """One typed method per script; each returns the :class:`ScriptCall`, to run at once or in a pipeline."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.keys = keys
        self._commit = register(client, "commit_batch")
        self._publish = register(client, "publish_events_once")

    def load_publish_once(self, client: redis.Redis) -> None:
        """Load ``publish_events_once`` on every master now, so the first batches take the pipelined path."""
        client.script_load(lua_source("publish_events_once"))

    def commit_batch(
        self, group: str, events_maxlen: int, reason: str, classified: Sequence[ClassifiedFace], dropped: Sequence[DroppedFace]
    ) -> ScriptCall:
        """Acknowledge, publish and delete a batch; the reply is ``[classified, dropped]`` this call acknowledged."""
        keys: dict[str, int] = {}

        def key(name: str) -> int:
            index = keys.get(name)
            if index is None:
                index = keys[name] = len(keys) + 1
            return index

        args: list[ScriptArg] = [group, SCHEMA_VERSION, events_maxlen, LIFECYCLE_MAXLEN, FacesDropped.kind, len(classified)]
        events = self.keys.events
        for face in classified:
            args += (key(face.stream), face.entry_id, key(events(face.source)), face.event)
        by_session: dict[tuple[str, str], list[DroppedFace]] = {}
        for drop in dropped:
            by_session.setdefault((drop.source, drop.session), []).append(drop)
        args.append(len(by_session))
        for (source, session), faces in by_session.items():
            head, tail = notice_parts(source, session, reason)
            args += (key(self.keys.lifecycle), head, tail, len(faces))
            for drop in faces:
                args += (key(drop.stream), drop.entry_id, dumps(drop.event_id))
        return ScriptCall(self._commit, list(keys), args)

    def publish_events_once(
        self, stream: str, bucket: int, maxlen: int, expire_at: int, events: Sequence[tuple[str, bytes]]
    ) -> ScriptCall:
        """Publish ``events`` (id, JSON) to ``stream`` but those the guards of ``bucket`` and the one before hold; the reply is how many."""
        keys = [stream, self.keys.published(stream, bucket), self.keys.published(stream, bucket - 1)]
        args: list[ScriptArg] = [maxlen, expire_at, SCHEMA_VERSION]
        for event_id, event in events:
            args += (event_id, event)
        return ScriptCall(self._publish, keys, args)
