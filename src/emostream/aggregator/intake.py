"""Which entries the aggregator takes in: lifecycle messages recorded, events to count, the rest refused.

An event is counted only if it decodes (``streams.events``: ids, numbers,
labels), its ``source`` is the source of the stream it came on, and its
session is known, i.e. the session's start (or end) message was recorded.
Anything else would create state for a session that never ends, or count a
forged face into someone else's session, so it goes to the dead-letter stream
with the reason.

Details at :class:`EventIntake`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from emostream.aggregator.store import SessionStore
from emostream.config.ids import shown
from emostream.streams.events import EmotionEvent, decode_event
from emostream.streams.group_commands import Entry, entry_ms
from emostream.streams.groups import GroupReader
from emostream.streams.keys import Keys
from emostream.streams.lifecycle import FacesDropped, SessionEnd, SessionStart, decode_lifecycle
from emostream.streams.scripts import ScriptPipeline, script_pipeline
from emostream.streams.wire import Fields, MessageError


class EventIntake:
    """An event of an unknown session is judged by its age: with several
    aggregators, the one holding the session's start message may not have
    recorded it yet (or may have died holding it, until another claims it). So
    an unknown session's event younger than ``end_grace_s`` (by its entry id, the
    time Redis appended it) stays pending, uncounted, and comes back with the
    next claim; so does an older one while lifecycle messages still wait to be
    read (an aggregator catching up on a long backlog); otherwise it is
    dead-lettered as ``unknown_session``.
    """

    def __init__(self, keys: Keys, store: SessionStore, reader: GroupReader, grace_s: float, clock: Callable[[], float]) -> None:
        self.keys = keys
        self.store = store
        self.reader = reader
        self.grace_ms = grace_s * 1000.0
        self.clock = clock

    def sort(self, stream: str, entries: list[Entry]) -> list[tuple[bytes, EmotionEvent]]:
        """The events of ``entries`` to count; the others are dead-lettered or, if too young to judge, left pending."""
        source = self.keys.source_of_events(stream)
        decoded = []
        for eid, fields in entries:
            try:
                event = decode_event(fields)
                if event.source != source:
                    raise MessageError(f"event of source {shown(event.source)} on the events stream of {shown(source)}")
            except MessageError as exc:
                self.reader.dead_letter(stream, eid, fields, str(exc))
                continue
            decoded.append((eid, fields, event))
        if not decoded:
            return []
        known = self.store.known({event.session for _, _, event in decoded})
        now_ms = self.clock() * 1000.0
        out = []
        catching_up: bool | None = None  # asked once per batch, and only if needed
        for eid, fields, event in decoded:
            if event.session in known:
                out.append((eid, event))
                continue
            if now_ms - entry_ms(eid) < self.grace_ms:
                continue
            if catching_up is None:
                catching_up = self.reader.backlog(self.keys.lifecycle) > 0
            if not catching_up:
                reason = f"event of session {shown(event.session)}, which never started"
                self.reader.dead_letter(stream, eid, fields, reason, "unknown_session")
        return out

    def record_lifecycle(self, stream: str, entries: list[Entry]) -> None:
        """Record session starts, ends and dropped faces, and acknowledge them, in one pipeline; malformed ones are dead-lettered.

        A ``dropped`` message counts only into a session that started and is not
        yet summarised: one for an unknown session is judged like an event of it
        (left pending while young, then dead-lettered), and one for a summarised
        session is dead-lettered at once, so neither opens a session that never ends.
        """
        pipe = script_pipeline(self.store.client)
        good, drops = [], []
        started: set[str] = set()
        for eid, fields in entries:
            try:
                message = decode_lifecycle(fields)
            except MessageError as exc:
                self.reader.dead_letter(stream, eid, fields, str(exc))
                continue
            if isinstance(message, SessionStart):
                self.store.record_start(pipe, message)
            elif isinstance(message, SessionEnd):
                self.store.record_end(pipe, message, self.clock())
            else:  # FacesDropped: faces that will never be events; counted below, once their session is known
                drops.append((eid, fields, message))
                continue
            started.add(message.session)
            good.append(eid)
        good += self._record_dropped(stream, pipe, drops, started)
        if good:
            self.reader.ack(stream, good, pipe.pipe)
            pipe.execute()

    def _record_dropped(self, stream: str, pipe: ScriptPipeline, drops: list[tuple[bytes, Fields, FacesDropped]], started: set[str]) -> list[bytes]:
        """The ids of the drops counted into ``pipe``; the others are dead-lettered or left pending (too young to judge)."""
        if not drops:
            return []
        status = self.store.open_status({message.session for _, _, message in drops} - started)
        now_ms = self.clock() * 1000.0
        out = []
        for eid, fields, message in drops:
            state = "open" if message.session in started else status[message.session]
            if state == "open":
                self.store.record_dropped(pipe, message)
                out.append(eid)
            elif state == "summarised":
                self.reader.dead_letter(stream, eid, fields, f"dropped faces of session {shown(message.session)}, already summarised", "closed_session")
            elif now_ms - entry_ms(eid) >= self.grace_ms:
                self.reader.dead_letter(stream, eid, fields, f"dropped faces of session {shown(message.session)}, which never started", "unknown_session")
        return out

def epoch(stamp: str) -> float | None:
    """Seconds since the epoch of an ISO 8601 UTC time; None if malformed."""
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
