"""The aggregator's scripts on a session's working state: counting, tracks, and the cluster close.

Every key of a call but the sessions stream and its guard is the session's
(``Keys.agg``), so a call stays in the session's cluster slot. KEYS and ARGV
are documented at each ``streams/lua/<name>.lua``; nothing outside this module
builds them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import redis

from emostream.streams.keys import SESSIONS_MAXLEN, Keys, SessionPart
from emostream.streams.scripts import ScriptArg, ScriptCall, register

P = SessionPart
COUNTED_PARTS = (P.SEEN, P.STATE, P.EMOTIONS, P.MINUTES, P.BUCKETS, P.TRACKS)  # count_events' KEYS
TRACK_PARTS = (P.TRACK_STATE, P.TRACK_ENDED, P.OUTBOX, P.TRACK_CLOCK)  # write_track's KEYS


class CountGroup(NamedTuple):
    """Events of one batch alike in label, minute, chart bucket and track: their increments go to these fields."""

    label: str
    minute_field: str
    bucket_field: str
    track_field: str
    track: int


class CountedEvent(NamedTuple):
    """One event to count: its id, its group (1-based, in the call's ``groups``), its weight (interval) and offset."""

    event_id: str
    group: int
    weight: str
    offset: str


class SessionScripts:
    """One typed method per script; each returns the :class:`ScriptCall`, to run at once or in a pipeline."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.keys = keys
        self._count = register(client, "count_events")
        self._count_dropped = register(client, "count_dropped")
        self._write_track = register(client, "write_track")
        self._decide = register(client, "decide_close")
        self._publish = register(client, "publish_summary_once")

    def _parts(self, session: str, *parts: SessionPart) -> list[str]:
        return [self.keys.agg(session, part) for part in parts]

    def count_events(
        self, session: str, source: str, fence: int, groups: Sequence[CountGroup], events: Sequence[CountedEvent]
    ) -> ScriptCall:
        """Count ``events`` of one session once each; the reply is -1 (fenced) or 1/0 per event (counted/duplicate)."""
        keys = self._parts(session, *COUNTED_PARTS)
        args: list[ScriptArg] = [source, fence, len(groups)]
        for group in groups:
            args += group
        for event in events:
            args += event
        return ScriptCall(self._count, keys, args)

    def count_dropped(self, session: str, reason: str, source: str, event_ids: Sequence[str]) -> ScriptCall:
        """Count faces a classifier dropped, each id once; the reply is how many were new."""
        return ScriptCall(self._count_dropped, self._parts(session, SessionPart.SEEN, SessionPart.STATE), [reason, source, *event_ids])

    def write_track(
        self, session: str, track: int, expected: str, new: str, final: str, last_offset: float, events: Sequence[str]
    ) -> ScriptCall:
        """Compare-and-set of a track's document ('' = absent / remove / none); the reply is -1 (ended), 0 (changed) or 1."""
        keys = self._parts(session, *TRACK_PARTS)
        return ScriptCall(self._write_track, keys, [str(track), expected, new, final, repr(last_offset), *events])

    def decide_close(self, session: str, now: float, events: str, dropped: str, stored: str) -> ScriptCall:
        """Flag the session summarised unless its counts moved on; the reply is 1 (now), 0 (before) or -1 (counted meanwhile)."""
        keys = self._parts(session, SessionPart.STATE, SessionPart.CLOSING)
        return ScriptCall(self._decide, keys, [repr(now), events, dropped, stored])

    def publish_summary_once(self, session: str, guard_s: int, fields: Sequence[ScriptArg]) -> ScriptCall:
        """Append the summary's ``fields`` (name, value, ...) to the sessions stream unless published; the reply is 1 if now."""
        keys = [self.keys.sessions, self.keys.summary_published(session)]
        return ScriptCall(self._publish, keys, [guard_s, SESSIONS_MAXLEN, *fields])
