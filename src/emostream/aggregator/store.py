"""Session state kept in Redis, so an aggregator restart loses nothing and counts nothing twice.

Each event is counted by one Lua call that first adds its ``event_id`` to the
session's "seen" set: a redelivered or duplicated event changes nothing. The
stream entry is acknowledged after the call, so a crash in between only causes
a redelivery that the set absorbs.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import redis

from emostream.emotions import EMOTIONS
from emostream.streams.events import EmotionEvent
from emostream.streams.keys import SESSION_STATE_TTL_S, SESSIONS_MAXLEN, Keys
from emostream.streams.lifecycle import FacesDropped, SessionEnd, SessionStart

# Every key of a session's working state (the track parts belong to ``tracks``).
PARTS = ("state", "seen", "emotions", "minutes", "buckets", "tracks", "track_state", "track_ended", "track_clock", "outbox")
SNAPSHOT_PARTS = ("state", "emotions", "minutes", "buckets", "tracks", "track_state", "track_ended")

COUNT_EVENT = """
-- KEYS: seen, state, emotions, minutes, buckets, tracks
-- ARGV: event_id, label, weight, minute, bucket, track, offset, source
if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[2], 'events', 1)
redis.call('HSETNX', KEYS[2], 'source', ARGV[8])
redis.call('HINCRBY', KEYS[3], 'count:' .. ARGV[2], 1)
redis.call('HINCRBYFLOAT', KEYS[3], 'time:' .. ARGV[2], ARGV[3])
redis.call('HINCRBYFLOAT', KEYS[4], ARGV[4] .. ':' .. ARGV[2], ARGV[3])
redis.call('HINCRBYFLOAT', KEYS[5], ARGV[5] .. ':' .. ARGV[2], ARGV[3])
local t = ARGV[6]
redis.call('HINCRBYFLOAT', KEYS[6], t .. ':' .. ARGV[2], ARGV[3])
redis.call('HINCRBY', KEYS[6], t .. ':n', 1)
local off = tonumber(ARGV[7])
local clock = redis.call('HGET', KEYS[2], 'clock')
if (not clock) or off > tonumber(clock) then redis.call('HSET', KEYS[2], 'clock', ARGV[7]) end
local first = redis.call('HGET', KEYS[6], t .. ':first')
if (not first) or off < tonumber(first) then redis.call('HSET', KEYS[6], t .. ':first', ARGV[7]) end
local last = redis.call('HGET', KEYS[6], t .. ':last')
if (not last) or off > tonumber(last) then redis.call('HSET', KEYS[6], t .. ':last', ARGV[7]) end
return 1
"""


COUNT_DROPPED = """
-- KEYS: seen, state
-- ARGV: reason, source, event_id...
local n = 0
for i = 3, #ARGV do
  if redis.call('SADD', KEYS[1], ARGV[i]) == 1 then n = n + 1 end
end
redis.call('HSETNX', KEYS[2], 'source', ARGV[2])
if n > 0 then
  redis.call('HINCRBY', KEYS[2], 'dropped', n)
  redis.call('HINCRBY', KEYS[2], 'dropped:' .. ARGV[1], n)
end
return n
"""


def text(value: bytes | str | None) -> str:
    return value.decode() if isinstance(value, bytes) else (value or "")


class SessionStore:
    def __init__(self, client: redis.Redis, keys: Keys, chart_bucket_s: int) -> None:
        self.client = client
        self.keys = keys
        self.chart_bucket_s = chart_bucket_s
        self._count = client.register_script(COUNT_EVENT)
        self._count_dropped = client.register_script(COUNT_DROPPED)

    def _keys(self, session: str) -> list[str]:
        return [self.keys.agg(session, part) for part in ("seen", "state", "emotions", "minutes", "buckets", "tracks")]

    def count_events(self, pipe: redis.client.Pipeline, events: list[EmotionEvent]) -> None:
        """Queue one counting call per event on ``pipe``; each returns 1 (new) or 0 (duplicate)."""
        for event in events:
            offset = event.frame.offset_s
            weight = event.frame.interval_s
            session = event.session
            pipe.sadd(self.keys.open_sessions, session)
            self._count(
                keys=self._keys(session),
                args=[
                    event.event_id,
                    event.label,
                    repr(weight),
                    int(offset // 60),
                    int(offset // self.chart_bucket_s),
                    event.track_id,
                    repr(offset),
                    event.source,
                ],
                client=pipe,
            )

    def record_dropped(self, pipe: redis.client.Pipeline, msg: FacesDropped) -> None:
        """Count faces a classifier dropped, each id once and never also as an event (one "seen" set for both)."""
        pipe.sadd(self.keys.open_sessions, msg.session)
        keys = [self.keys.agg(msg.session, "seen"), self.keys.agg(msg.session, "state")]
        self._count_dropped(keys=keys, args=[msg.reason, msg.source, *msg.event_ids], client=pipe)

    def record_start(self, pipe: redis.client.Pipeline, msg: SessionStart) -> None:
        state = self.keys.agg(msg.session, "state")
        pipe.hsetnx(state, "source", msg.source)
        pipe.hsetnx(state, "started_ts", repr(msg.started_ts))
        pipe.hsetnx(state, "url", msg.url)
        pipe.sadd(self.keys.open_sessions, msg.session)

    def record_end(self, pipe: redis.client.Pipeline, msg: SessionEnd, received_ts: float) -> None:
        state = self.keys.agg(msg.session, "state")
        pipe.hsetnx(state, "source", msg.source)
        pipe.hsetnx(state, "started_ts", repr(msg.started_ts))
        pipe.hset(state, mapping={"end": json.dumps(asdict(msg)), "end_received_ts": repr(received_ts)})
        pipe.sadd(self.keys.open_sessions, msg.session)

    def open_sessions(self) -> list[str]:
        return sorted(text(s) for s in self.client.smembers(self.keys.open_sessions))

    def state(self, session: str) -> dict[str, str]:
        return {text(k): text(v) for k, v in self.client.hgetall(self.keys.agg(session, "state")).items()}

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
            pipe.hexists(self.keys.agg(session, "state"), "started_ts")
        return {s for s, seen in zip(ordered, pipe.execute(), strict=True) if seen}

    def close_session(self, session: str, summary: dict[str, Any], retention_s: int, fields: dict[str, Any], now: float) -> bool:
        """Publish the summary once, atomically; False if it was not published now.

        Flagging the session ``summarised`` and publishing the summary are one
        MULTI/EXEC, watched on the session's state: a connection lost before
        EXEC leaves nothing done (the next pass tries again), one lost after it
        leaves everything done. False means another aggregator published it, or
        changed the session meanwhile (then the next pass looks again).

        The summary is kept ``retention_s`` under its own key and listed in a sorted
        set scored by its end time; entries older than the retention are pruned here.
        """
        state = self.keys.agg(session, "state")
        with self.client.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(state)  # type: ignore[no-untyped-call]
                if pipe.hexists(state, "summarised"):
                    pipe.unwatch()
                    return False
                pipe.multi()
                pipe.hset(state, "summarised", repr(now))
                pipe.xadd(self.keys.sessions, fields, maxlen=SESSIONS_MAXLEN, approximate=True)  # type: ignore[arg-type]
                pipe.set(self.keys.session(session), json.dumps(summary), ex=retention_s)
                pipe.zadd(self.keys.sessions_index, {session: now})
                pipe.zremrangebyscore(self.keys.sessions_index, "-inf", now - retention_s)
                pipe.srem(self.keys.open_sessions, session)
                # Keep the working state a while, so late duplicates are still recognised.
                for part in PARTS:
                    pipe.expire(self.keys.agg(session, part), SESSION_STATE_TTL_S)
                pipe.execute()
            except redis.WatchError:
                return False
        return True


def emotion_vector(values: dict[str, str], prefix: str) -> dict[str, float]:
    return {e: float(values.get(f"{prefix}{e}", 0.0)) for e in EMOTIONS}
