"""Session state kept in Redis, so an aggregator restart loses nothing and counts nothing twice.

A batch of events is counted by one Lua call per session that first adds each
``event_id`` to the session's "seen" set: a redelivered or duplicated event
changes nothing. The stream entries are acknowledged after the call, so a crash
in between only causes a redelivery that the set absorbs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

import redis

from emostream.aggregator.session_close import make_close
from emostream.streams.deadletter import dead_letter_fields
from emostream.streams.events import EmotionEvent
from emostream.streams.keys import DEADLETTER_MAXLEN, SESSION_STATE_TTL_S, Keys, SessionPart
from emostream.streams.lifecycle import FacesDropped, SessionEnd, SessionStart
from emostream.streams.scripts import ScriptCall, ScriptPipeline, script_pipeline
from emostream.streams.session_scripts import CountedEvent, CountGroup, SessionScripts

P = SessionPart
SNAPSHOT_PARTS = (P.STATE, P.EMOTIONS, P.MINUTES, P.BUCKETS, P.TRACKS, P.TRACK_STATE, P.TRACK_ENDED)

def text(value: bytes | str | None) -> str:
    return value.decode() if isinstance(value, bytes) else (value or "")


class SessionStore:
    def __init__(self, client: redis.Redis, keys: Keys, chart_bucket_s: int) -> None:
        self.client = client
        self.keys = keys
        self.chart_bucket_s = chart_bucket_s
        self.scripts = SessionScripts(client, keys)
        self._close = make_close(client, keys, self.scripts)

    def count_events(self, events: list[EmotionEvent], fences: Mapping[str, int]) -> list[int]:
        """Count ``events`` in one round trip; per event 1 (counted), 0 (a duplicate) or -1 (fenced).

        One script call per session counts all of that session's events of the
        batch: Redis adds each event id to the session's "seen" set and sums the
        increments of the new ones in Lua, so a duplicate changes nothing and a
        batch costs one call per session, not one per event.

        ``fences`` holds the fencing token of each event's source (its lease
        epoch, see ``leases``; 0: none). A session remembers the highest token
        that counted into it, and refuses a lower one: an aggregator that lost a
        source counts nothing into a session its new owner has counted into.
        Their events come back as -1, uncounted.
        """
        by_session: dict[str, list[int]] = {}
        for i, event in enumerate(events):
            by_session.setdefault(event.session, []).append(i)
        pipe = script_pipeline(self.client)
        for session, indices in by_session.items():
            pipe.pipe.sadd(self.keys.open_sessions, session)
            pipe.add(self._count_call(session, [events[i] for i in indices], fences))
        replies = pipe.execute()[1::2]  # replies alternate: SADD open, the counting script
        out = [0] * len(events)
        for indices, reply in zip(by_session.values(), replies, strict=True):
            for n, i in enumerate(indices):
                out[i] = -1 if reply == -1 else int(reply[n])
        return out

    def _count_call(self, session: str, events: list[EmotionEvent], fences: Mapping[str, int]) -> ScriptCall:
        """The counting call for one session's events: the groups they fall in, then each event with its group."""
        groups: dict[tuple[str, int, int, int], int] = {}
        described: list[CountGroup] = []
        per_event: list[CountedEvent] = []
        bucket_s = self.chart_bucket_s
        for event in events:
            offset, label, track = event.frame.offset_s, event.label, event.track_id
            key = (label, int(offset // 60), int(offset // bucket_s), track)
            group = groups.get(key)
            if group is None:
                group = groups[key] = len(groups) + 1
                described.append(CountGroup(label, f"{key[1]}:{label}", f"{key[2]}:{label}", f"{track}:{label}", track))
            per_event.append(CountedEvent(event.event_id, group, repr(event.frame.interval_s), repr(offset)))
        source = events[0].source
        return self.scripts.count_events(session, source, fences.get(source, 0), described, per_event)

    def record_dropped(self, calls: ScriptPipeline, msg: FacesDropped) -> None:
        """Count faces a classifier dropped, each id once and never also as an event (one "seen" set for both)."""
        calls.pipe.sadd(self.keys.open_sessions, msg.session)
        calls.add(self.scripts.count_dropped(msg.session, msg.reason, msg.source, msg.event_ids))

    def record_start(self, calls: ScriptPipeline, msg: SessionStart) -> None:
        pipe = calls.pipe
        state = self.keys.agg(msg.session, P.STATE)
        pipe.hsetnx(state, "source", msg.source)
        pipe.hsetnx(state, "started_ts", repr(msg.started_ts))
        pipe.hsetnx(state, "url", msg.url)
        pipe.sadd(self.keys.open_sessions, msg.session)

    def record_end(self, calls: ScriptPipeline, msg: SessionEnd, received_ts: float) -> None:
        pipe = calls.pipe
        state = self.keys.agg(msg.session, P.STATE)
        pipe.hsetnx(state, "source", msg.source)
        pipe.hsetnx(state, "started_ts", repr(msg.started_ts))
        pipe.hset(state, mapping={"end": json.dumps(asdict(msg)), "end_received_ts": repr(received_ts)})
        pipe.sadd(self.keys.open_sessions, msg.session)

    def open_sessions(self) -> list[str]:
        return sorted(text(s) for s in self.client.smembers(self.keys.open_sessions))

    def state(self, session: str) -> dict[str, str]:
        return {text(k): text(v) for k, v in self.client.hgetall(self.keys.agg(session, P.STATE)).items()}

    def states(self, sessions: list[str]) -> list[dict[str, str]]:
        """The state of each of ``sessions``, in one round trip."""
        pipe = self.client.pipeline(transaction=False)
        for session in sessions:
            pipe.hgetall(self.keys.agg(session, P.STATE))
        return [{text(k): text(v) for k, v in raw.items()} for raw in pipe.execute()]

    def snapshot(self, session: str) -> dict[str, Any]:
        """Everything counted for the session, read in one round trip."""
        pipe = self.client.pipeline(transaction=False)
        for part in SNAPSHOT_PARTS:
            pipe.hgetall(self.keys.agg(session, part))
        parts = [{text(k): text(v) for k, v in raw.items()} for raw in pipe.execute()]
        return dict(zip(SNAPSHOT_PARTS, parts, strict=True))

    def known(self, sessions: set[str]) -> set[str]:
        """Those of ``sessions`` whose start or end message has been recorded (a start time is stored)."""
        ordered = sorted(sessions)
        pipe = self.client.pipeline(transaction=False)
        for session in ordered:
            pipe.hexists(self.keys.agg(session, P.STATE), "started_ts")
        return {s for s, seen in zip(ordered, pipe.execute(), strict=True) if seen}

    def open_status(self, sessions: set[str]) -> dict[str, str]:
        """Each of ``sessions`` as ``open`` (started, not summarised), ``summarised`` or ``unknown``, in one round trip."""
        ordered = sorted(sessions)
        pipe = self.client.pipeline(transaction=False)
        for session in ordered:
            pipe.hmget(self.keys.agg(session, P.STATE), "started_ts", "summarised")
        out = {}
        for session, (started, summarised) in zip(ordered, pipe.execute(), strict=True):
            out[session] = "summarised" if summarised is not None else "open" if started is not None else "unknown"
        return out

    def close_session(self, session: str, summary: dict[str, Any], retention_s: int, now: float, counted: dict[str, str]) -> bool:
        """Publish the summary once; False if it was not published now (see ``session_close``).

        ``counted`` is the session's state the summary was built from. The
        summary is kept ``retention_s`` under its own key and listed in a sorted
        set scored by its end time; entries older than the retention are pruned here.
        """
        return self._close.close(session, summary, retention_s, now, counted)

    def abandon(self, session: str, reason: str, now: float) -> None:
        """Dead-letter a session that cannot be summarised: its state as the letter, flagged, no longer open."""
        state = self.keys.agg(session, P.STATE)
        fields = {k.encode(): v.encode() for k, v in self.state(session).items()}
        letter = dead_letter_fields(self.keys.open_sessions, session.encode(), fields, reason, "aggregator", now)
        self.client.xadd(self.keys.deadletter, letter, maxlen=DEADLETTER_MAXLEN, approximate=True)  # type: ignore[arg-type]
        self.client.hset(state, "summarised", repr(now))
        self.client.expire(state, SESSION_STATE_TTL_S)
        self.client.srem(self.keys.open_sessions, session)

    def finish_closed(self, session: str, retention_s: int) -> dict[str, Any] | None:
        """Finish the close of a session flagged ``summarised`` but still open (cluster mode: its closer stopped
        between the steps); the summary if this call published it."""
        return self._close.finish(session, retention_s)
