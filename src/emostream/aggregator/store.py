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

from emostream.emotions import EMOTIONS
from emostream.streams.events import EmotionEvent
from emostream.streams.keys import SESSION_STATE_TTL_S, SESSIONS_MAXLEN, Keys
from emostream.streams.lifecycle import FacesDropped, SessionEnd, SessionStart

# Every key of a session's working state (the track parts belong to ``tracks``).
PARTS = ("state", "seen", "emotions", "minutes", "buckets", "tracks", "track_state", "track_ended", "track_clock", "outbox")
SNAPSHOT_PARTS = ("state", "emotions", "minutes", "buckets", "tracks", "track_state", "track_ended")

COUNT_EVENTS = """
-- One call per session and batch: every key is the session's, so one cluster slot.
-- KEYS: seen, state, emotions, minutes, buckets, tracks
-- ARGV: source, fence, then 7 per event: event_id, label, weight, minute, bucket, track, offset
-- Returns -1 if ``fence`` is below the session's (a newer owner of the source counts it),
-- else one 1 (counted) or 0 (a duplicate) per event.
local fence = tonumber(ARGV[2])
if fence > 0 then
  local held = tonumber(redis.call('HGET', KEYS[2], 'fence') or '0')
  if fence < held then return -1 end
  if fence > held then redis.call('HSET', KEYS[2], 'fence', ARGV[2]) end
end
local fresh, n = {}, 0
local counts, times, minutes, buckets, weights, faces = {}, {}, {}, {}, {}, {}
local first, last, first_s, last_s = {}, {}, {}, {}
local clock, clock_s = nil, nil
local function add(t, k, v) t[k] = (t[k] or 0) + v end
for i = 3, #ARGV, 7 do
  if redis.call('SADD', KEYS[1], ARGV[i]) == 1 then
    n = n + 1
    fresh[#fresh + 1] = 1
    local label, w, t, off = ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 5], tonumber(ARGV[i + 6])
    add(counts, label, 1)
    add(times, label, w)
    add(minutes, ARGV[i + 3] .. ':' .. label, w)
    add(buckets, ARGV[i + 4] .. ':' .. label, w)
    add(weights, t .. ':' .. label, w)
    add(faces, t, 1)
    if (not clock) or off > clock then clock, clock_s = off, ARGV[i + 6] end
    if (not first[t]) or off < first[t] then first[t], first_s[t] = off, ARGV[i + 6] end
    if (not last[t]) or off > last[t] then last[t], last_s[t] = off, ARGV[i + 6] end
  else
    fresh[#fresh + 1] = 0
  end
end
if n == 0 then return fresh end
local function num(v) return string.format('%.17g', v) end
redis.call('HINCRBY', KEYS[2], 'events', n)
redis.call('HSETNX', KEYS[2], 'source', ARGV[1])
for label, c in pairs(counts) do
  redis.call('HINCRBY', KEYS[3], 'count:' .. label, c)
  redis.call('HINCRBYFLOAT', KEYS[3], 'time:' .. label, num(times[label]))
end
for k, w in pairs(minutes) do redis.call('HINCRBYFLOAT', KEYS[4], k, num(w)) end
for k, w in pairs(buckets) do redis.call('HINCRBYFLOAT', KEYS[5], k, num(w)) end
for k, w in pairs(weights) do redis.call('HINCRBYFLOAT', KEYS[6], k, num(w)) end
local stored = tonumber(redis.call('HGET', KEYS[2], 'clock') or '')
if (not stored) or clock > stored then redis.call('HSET', KEYS[2], 'clock', clock_s) end
for t, c in pairs(faces) do
  redis.call('HINCRBY', KEYS[6], t .. ':n', c)
  local old = redis.call('HMGET', KEYS[6], t .. ':first', t .. ':last')
  if (not old[1]) or first[t] < tonumber(old[1]) then redis.call('HSET', KEYS[6], t .. ':first', first_s[t]) end
  if (not old[2]) or last[t] > tonumber(old[2]) then redis.call('HSET', KEYS[6], t .. ':last', last_s[t]) end
end
return fresh
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
        self._count = client.register_script(COUNT_EVENTS)
        self._count_dropped = client.register_script(COUNT_DROPPED)

    def _keys(self, session: str) -> list[str]:
        return [self.keys.agg(session, part) for part in ("seen", "state", "emotions", "minutes", "buckets", "tracks")]

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
        pipe = self.client.pipeline(transaction=False)
        for session, indices in by_session.items():
            pipe.sadd(self.keys.open_sessions, session)
            source = events[indices[0]].source
            args: list[str | int] = [source, fences.get(source, 0)]
            for i in indices:
                event = events[i]
                offset = event.frame.offset_s
                args += [
                    event.event_id, event.label, repr(event.frame.interval_s), int(offset // 60),
                    int(offset // self.chart_bucket_s), event.track_id, repr(offset),
                ]
            self._count(keys=self._keys(session), args=args, client=pipe)
        replies = pipe.execute()[1::2]  # replies alternate: SADD open, the counting script
        out = [0] * len(events)
        for indices, reply in zip(by_session.values(), replies, strict=True):
            for n, i in enumerate(indices):
                out[i] = -1 if reply == -1 else int(reply[n])
        return out

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

    def states(self, sessions: list[str]) -> list[dict[str, str]]:
        """The state of each of ``sessions``, in one round trip."""
        pipe = self.client.pipeline(transaction=False)
        for session in sessions:
            pipe.hgetall(self.keys.agg(session, "state"))
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
