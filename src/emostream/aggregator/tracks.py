"""Track state in Redis: apply smoothed faces, end tracks, publish track events.

Details at :class:`TrackStore`.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import redis

from emostream.aggregator.smoothing import Observation, Smoother, TrackState
from emostream.aggregator.store import text
from emostream.aggregator.summary import track_summaries
from emostream.config import TracksConfig
from emostream.streams.events import EmotionEvent
from emostream.streams.keys import Keys, SessionPart
from emostream.streams.records import TrackEvent, encode_track
from emostream.streams.scripts import script_pipeline
from emostream.streams.session_scripts import SessionScripts

log = logging.getLogger(__name__)

MAX_RETRIES = 5


@dataclass
class ApplyResult:
    """What one call of :meth:`TrackStore.apply` did, for metrics and logs."""

    events: list[TrackEvent] = field(default_factory=list)
    late: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # per source: faces not smoothed
    sessions: set[str] = field(default_factory=set)


class TrackStore:
    """Choices, and why:

    - **State lives in Redis**, one JSON document per active track in the hash
      ``<prefix>:agg:{<session>}:track_state``. A restarted (or another) aggregator
      continues every track where it stopped; nothing is rebuilt from the events.
    - **Compare-and-set.** The worker reads a track's document, folds the new faces
      into it in Python (``smoothing``), and writes it back with a Lua script that
      succeeds only if the document is unchanged. Two aggregators working on one
      track cannot lose each other's updates; the loser re-reads and retries.
    - **Idempotent by frame order.** A face whose frame sequence number is not
      above the track's last one is not smoothed (it is late, or a redelivery of a
      face already applied). Applying a batch twice therefore changes nothing.
      Late faces still count in the session summary, which deduplicates by event id.
    - **Outbox.** The same script appends the track events to a per-session list
      (in the session's hash slot), and :meth:`TrackStore.flush` moves them to
      ``<prefix>:tracks:<source>``. A crash between the two leaves them in the
      outbox for the next flush: events are published at least once, with
      deterministic ids (``<session>:<track>:<n>``) so subscribers can drop repeats.
    - **Ending.** A track ends when the session's media clock (the largest offset
      applied in the session) is ``end_after_s`` past its last face, when it got no
      face for ``idle_end_s`` of wall-clock time, or when its session ends. Its last
      state moves to the ``track_ended`` hash, which also makes later faces of that
      track ignored rather than starting it again.
    """

    def __init__(self, client: redis.Redis, keys: Keys, cfg: TracksConfig) -> None:
        self.client = client
        self.keys = keys
        self.cfg = cfg
        self.smoother = Smoother(cfg)
        self.scripts = SessionScripts(client, keys)

    # --- applying faces --------------------------------------------------------

    def apply(self, events: Iterable[EmotionEvent], wall_ts: float) -> ApplyResult:
        """Fold emotion events into their tracks, in frame order within each track."""
        groups: dict[tuple[str, int], list[EmotionEvent]] = defaultdict(list)
        for event in events:
            groups[(event.session, event.track_id)].append(event)
        result = ApplyResult()
        if not groups:
            return result
        summarised = self._summarised({session for session, _ in groups})
        todo = {}
        for key, group in groups.items():
            if key[0] in summarised:
                result.late[group[0].source] += len(group)
                continue
            todo[key] = sorted(group, key=lambda e: e.frame.seq)
        for _attempt in range(MAX_RETRIES):
            if not todo:
                break
            todo = self._apply_round(todo, wall_ts, result)
        if todo:
            log.warning("tracks: %d track(s) kept changing under us; their faces stay unsmoothed", len(todo))
        return result

    def _summarised(self, sessions: set[str]) -> set[str]:
        ordered = sorted(sessions)
        pipe = self.client.pipeline(transaction=False)
        for session in ordered:
            pipe.hexists(self.keys.agg(session, SessionPart.STATE), "summarised")
        return {s for s, done in zip(ordered, pipe.execute(), strict=True) if done}

    def _apply_round(
        self, todo: dict[tuple[str, int], list[EmotionEvent]], wall_ts: float, result: ApplyResult
    ) -> dict[tuple[str, int], list[EmotionEvent]]:
        """One read-modify-write pass; returns the tracks whose write lost a race."""
        order = list(todo)
        reads = self.client.pipeline(transaction=False)
        for session, track in order:
            reads.hget(self.keys.agg(session, SessionPart.TRACK_STATE), str(track))
        current = [text(raw) for raw in reads.execute()]
        writes: list[tuple[tuple[str, int], list[TrackEvent], int]] = []
        pipe = script_pipeline(self.client)
        for key, raw in zip(order, current, strict=True):
            session, track = key
            group = todo[key]
            source = group[0].source
            state = TrackState.from_json(raw) if raw else None
            emitted: list[TrackEvent] = []
            applied = 0
            for event in group:
                obs = Observation.from_event(event, wall_ts)
                if state is None:
                    state, first = self.smoother.start(source, session, track, obs)
                    emitted.append(first)
                elif obs.seq <= state.last_seq:
                    continue
                else:
                    emitted.extend(self.smoother.apply(state, obs))
                applied += 1
            late = len(group) - applied
            if state is None or applied == 0:
                result.late[source] += late
                continue
            pipe.add(self.scripts.write_track(session, track, raw, state.to_json(), "", state.last_s, [*map(_outbox_item, emitted)]))
            writes.append((key, emitted, late))
        retry = {}
        for (key, emitted, late), outcome in zip(writes, pipe.execute(), strict=True):
            source = todo[key][0].source
            if outcome == 1:
                result.events.extend(emitted)
                result.late[source] += late
                result.sessions.add(key[0])
            elif outcome == 0:
                retry[key] = todo[key]
            else:  # the track ended (timeout) before these faces arrived
                result.late[source] += len(todo[key])
        return retry

    # --- ending tracks -----------------------------------------------------------

    def expire(
        self, sessions: Iterable[str], now: float, idle_sources: set[str], not_before: float
    ) -> tuple[list[TrackEvent], dict[str, int]]:
        """End the tracks of ``sessions`` that timed out in media time or went idle.

        The idle rule applies only to sources in ``idle_sources`` (the caller's
        read of their stream came back empty, so nothing is waiting to be
        applied) and counts from ``not_before`` at the earliest, so an aggregator
        that was down for a while does not end every track on restart.
        Returns the end events and the number of tracks still active per source.
        """
        ended: list[TrackEvent] = []
        active_by_source: dict[str, int] = defaultdict(int)
        for session in sessions:
            active, clock = self._active(session)
            due = {}
            for track, state in active.items():
                if clock - state.last_s > self.cfg.end_after_s:
                    due[track] = (state, "timeout")
                elif state.source in idle_sources and now - max(state.seen_ts, not_before) > self.cfg.idle_end_s:
                    due[track] = (state, "idle")
                else:
                    active_by_source[state.source] += 1
            if due:
                ended.extend(self._end(session, due))
        return ended, dict(active_by_source)

    def end_session(self, session: str) -> list[TrackEvent]:
        """End every track still active in ``session`` (the session is about to be summarised).

        A track that had already timed out in media time ends as ``timeout``, as it
        would have had the periodic check run first, so the outcome does not depend on timing.
        """
        active, clock = self._active(session)
        due = {t: (s, "timeout" if clock - s.last_s > self.cfg.end_after_s else "session_end") for t, s in active.items()}
        return self._end(session, due) if due else []

    def _active(self, session: str) -> tuple[dict[int, TrackState], float]:
        pipe = self.client.pipeline(transaction=False)
        pipe.hgetall(self.keys.agg(session, SessionPart.TRACK_STATE))
        pipe.get(self.keys.agg(session, SessionPart.TRACK_CLOCK))
        raw, clock = pipe.execute()
        states = {int(text(k)): TrackState.from_json(v) for k, v in raw.items()}
        return states, float(text(clock) or -1)

    def _end(self, session: str, due: dict[int, tuple[TrackState, str]]) -> list[TrackEvent]:
        raw_counts = self.client.hgetall(self.keys.agg(session, SessionPart.TRACKS))
        counted = {t["track_id"]: t for t in track_summaries({text(k): text(v) for k, v in raw_counts.items()})}
        pipe = script_pipeline(self.client)
        events = []
        for track, (state, reason) in sorted(due.items()):
            raw = state.to_json()
            totals = counted.get(track, {})
            event = self.smoother.end(state, reason, totals.get("dominant") or state.label, totals.get("share") or {})
            pipe.add(self.scripts.write_track(session, track, raw, "", state.to_json(), state.last_s, [_outbox_item(event)]))
            events.append(event)
        # A track that changed meanwhile is simply looked at again on the next pass.
        return [event for event, outcome in zip(events, pipe.execute(), strict=True) if outcome == 1]

    # --- publishing ----------------------------------------------------------------

    def flush(self, sessions: Iterable[str]) -> list[dict[str, Any]]:
        """Move the outboxes of ``sessions`` to the public tracks streams; returns what was published."""
        published = []
        for session in sorted(set(sessions)):
            outbox = self.keys.agg(session, SessionPart.OUTBOX)
            items = self.client.lrange(outbox, 0, -1)
            if not items:
                continue
            pipe = self.client.pipeline(transaction=False)
            for item in items:
                body = json.loads(item)
                pipe.xadd(self.keys.tracks(body["source"]), encode_track(body), maxlen=self.cfg.maxlen, approximate=True)  # type: ignore[arg-type]
                published.append(body)
            pipe.ltrim(outbox, len(items), -1)
            pipe.execute()
        return published


def _outbox_item(event: TrackEvent) -> str:
    return json.dumps(event.to_dict(), separators=(",", ":"))
