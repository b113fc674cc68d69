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

from emostream.aggregator.closing import make_close
from emostream.aggregator.scripts import ScriptPipeline
from emostream.streams.events import EmotionEvent
from emostream.streams.keys import Keys
from emostream.streams.lifecycle import FacesDropped, SessionEnd, SessionStart

SNAPSHOT_PARTS = ("state", "emotions", "minutes", "buckets", "tracks", "track_state", "track_ended")

COUNT_EVENTS = """
-- One call per session and batch: every key is the session's, so one cluster slot.
-- KEYS: seen, state, emotions, minutes, buckets, tracks
-- ARGV: source, fence, number of groups G, then 5 per group (events alike in label, minute, bucket
--       and track): label, minute field, bucket field, track field, track id; then 4 per event:
--       event_id, group (1..G), weight, offset.
-- Returns -1 if ``fence`` is below the session's (a newer owner of the source counts it),
-- else one 1 (counted) or 0 (a duplicate) per event.
local fence = tonumber(ARGV[2])
if fence > 0 then
  local held = tonumber(redis.call('HGET', KEYS[2], 'fence') or '0')
  if fence < held then return -1 end
  if fence > held then redis.call('HSET', KEYS[2], 'fence', ARGV[2]) end
end
local groups = tonumber(ARGV[3])
local first_event = 4 + 5 * groups
local ids = {}
for i = first_event, #ARGV, 4 do ids[#ids + 1] = ARGV[i] end
-- Two calls per thousand events, not one per event: which ids are known, then add them all.
local known = {}
for c = 1, #ids, 1000 do
  local chunk = {unpack(ids, c, math.min(c + 999, #ids))}
  local reply = redis.call('SMISMEMBER', KEYS[1], unpack(chunk))
  for j = 1, #reply do known[c + j - 1] = reply[j] end
  redis.call('SADD', KEYS[1], unpack(chunk))
end
local fresh, here, n = {}, {}, 0
local weight, faces, first, last, first_s, last_s = {}, {}, {}, {}, {}, {}
local clock, clock_s = nil, nil
for k, id in ipairs(ids) do
  if known[k] == 1 or here[id] then
    fresh[k] = 0
  else
    here[id] = true
    fresh[k] = 1
    n = n + 1
    local i = first_event + 4 * (k - 1)
    local g, off = tonumber(ARGV[i + 1]), tonumber(ARGV[i + 3])
    weight[g] = (weight[g] or 0) + tonumber(ARGV[i + 2])
    faces[g] = (faces[g] or 0) + 1
    if (not clock) or off > clock then clock, clock_s = off, ARGV[i + 3] end
    local t = ARGV[3 + 5 * g]
    if (not first[t]) or off < first[t] then first[t], first_s[t] = off, ARGV[i + 3] end
    if (not last[t]) or off > last[t] then last[t], last_s[t] = off, ARGV[i + 3] end
  end
end
if n == 0 then return fresh end
local function num(v) return string.format('%.17g', v) end
redis.call('HINCRBY', KEYS[2], 'events', n)
redis.call('HSETNX', KEYS[2], 'source', ARGV[1])
local counts, times, track_faces = {}, {}, {}
for g, w in pairs(weight) do
  local at = 4 + 5 * (g - 1)
  local label, t = ARGV[at], ARGV[at + 4]
  counts[label] = (counts[label] or 0) + faces[g]
  times[label] = (times[label] or 0) + w
  track_faces[t] = (track_faces[t] or 0) + faces[g]
  redis.call('HINCRBYFLOAT', KEYS[4], ARGV[at + 1], num(w))
  redis.call('HINCRBYFLOAT', KEYS[5], ARGV[at + 2], num(w))
  redis.call('HINCRBYFLOAT', KEYS[6], ARGV[at + 3], num(w))
end
for label, c in pairs(counts) do
  redis.call('HINCRBY', KEYS[3], 'count:' .. label, c)
  redis.call('HINCRBYFLOAT', KEYS[3], 'time:' .. label, num(times[label]))
end
local stored = tonumber(redis.call('HGET', KEYS[2], 'clock') or '')
if (not stored) or clock > stored then redis.call('HSET', KEYS[2], 'clock', clock_s) end
for t, c in pairs(track_faces) do
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
        self._close = make_close(client, keys)

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
        pipe = ScriptPipeline(self.client)
        for session, indices in by_session.items():
            pipe.pipe.sadd(self.keys.open_sessions, session)
            pipe.script(self._count, self._keys(session), self._count_args([events[i] for i in indices], fences))
        replies = pipe.execute()[1::2]  # replies alternate: SADD open, the counting script
        out = [0] * len(events)
        for indices, reply in zip(by_session.values(), replies, strict=True):
            for n, i in enumerate(indices):
                out[i] = -1 if reply == -1 else int(reply[n])
        return out

    def _count_args(self, events: list[EmotionEvent], fences: Mapping[str, int]) -> list[str | int]:
        """The script's arguments for one session's events: the groups they fall in, then each event with its group."""
        groups: dict[tuple[str, int, int, int], int] = {}
        described: list[str | int] = []
        per_event: list[str | int] = []
        bucket_s = self.chart_bucket_s
        for event in events:
            offset, label, track = event.frame.offset_s, event.label, event.track_id
            key = (label, int(offset // 60), int(offset // bucket_s), track)
            group = groups.get(key)
            if group is None:
                group = groups[key] = len(groups) + 1
                described += [label, f"{key[1]}:{label}", f"{key[2]}:{label}", f"{track}:{label}", track]
            per_event += [event.event_id, group, repr(event.frame.interval_s), repr(offset)]
        source = events[0].source
        return [source, fences.get(source, 0), len(groups), *described, *per_event]

    def record_dropped(self, calls: ScriptPipeline, msg: FacesDropped) -> None:
        """Count faces a classifier dropped, each id once and never also as an event (one "seen" set for both)."""
        calls.pipe.sadd(self.keys.open_sessions, msg.session)
        keys = [self.keys.agg(msg.session, "seen"), self.keys.agg(msg.session, "state")]
        calls.script(self._count_dropped, keys, [msg.reason, msg.source, *msg.event_ids])

    def record_start(self, calls: ScriptPipeline, msg: SessionStart) -> None:
        pipe = calls.pipe
        state = self.keys.agg(msg.session, "state")
        pipe.hsetnx(state, "source", msg.source)
        pipe.hsetnx(state, "started_ts", repr(msg.started_ts))
        pipe.hsetnx(state, "url", msg.url)
        pipe.sadd(self.keys.open_sessions, msg.session)

    def record_end(self, calls: ScriptPipeline, msg: SessionEnd, received_ts: float) -> None:
        pipe = calls.pipe
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

    def close_session(self, session: str, summary: dict[str, Any], retention_s: int, now: float, counted: dict[str, str]) -> bool:
        """Publish the summary once; False if it was not published now (see ``closing``).

        ``counted`` is the session's state the summary was built from. The
        summary is kept ``retention_s`` under its own key and listed in a sorted
        set scored by its end time; entries older than the retention are pruned here.
        """
        return self._close.close(session, summary, retention_s, now, counted)

    def finish_closed(self, session: str, retention_s: int) -> dict[str, Any] | None:
        """Finish the close of a session flagged ``summarised`` but still open (cluster mode: its closer stopped
        between the steps); the summary if this call published it."""
        return self._close.finish(session, retention_s)
