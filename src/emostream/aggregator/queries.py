"""Reading sessions back: ended ones from their stored summaries, open ones live from the counts.

Shared by the HTTP API and ``emostream sessions``, so both show the same thing.
Everything is read from Redis; nothing here needs a running aggregator.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import redis

from emostream.aggregator.smoothing import TrackState
from emostream.aggregator.store import SessionStore, text
from emostream.aggregator.summary import build_summary
from emostream.config.ids import is_session_id
from emostream.infra.emotions import EMOTIONS
from emostream.streams.keys import Keys
from emostream.streams.wire import utc_iso


def brief(summary: dict[str, Any]) -> dict[str, Any]:
    """One line of a session list."""
    share = summary["emotions"]["share"]
    dominant = max(EMOTIONS, key=lambda e: share.get(e, 0.0)) if any(share.values()) else None
    return {
        "session": summary["session"],
        "source": summary["source"],
        "state": summary.get("state", "ended"),
        "started_at": summary["started_at"],
        "ended_at": summary.get("ended_at"),
        "duration_s": summary["duration_s"],
        "faces": summary["faces"],
        "tracks": summary["tracks"],
        "dominant": dominant,
        "end_reason": summary.get("end_reason"),
    }


class SessionQueries:
    def __init__(self, client: redis.Redis, keys: Keys, chart_bucket_s: int, clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.clock = clock
        self.keys = keys
        self.store = SessionStore(client, keys, chart_bucket_s)
        self.chart_bucket_s = chart_bucket_s

    def live(self, session: str) -> dict[str, Any] | None:
        """An open session as it stands: the summary so far plus its active tracks."""
        snapshot = self.store.snapshot(session)
        state = snapshot["state"]
        if not state or "summarised" in state:
            return None
        summary = build_summary(session, snapshot, self.chart_bucket_s)
        ended = "end" in state
        summary.update(
            state="ending" if ended else "open",
            duration_s=round(float(state.get("clock", 0.0)), 3) if not ended else summary["duration_s"],
            ended_at=summary["ended_at"] if ended else None,
            end_reason=summary["end_reason"] if ended else None,
            as_of=utc_iso(self.clock()),
            active_tracks=[
                {"track_id": s.track, **s.public()}
                for s in sorted((TrackState.from_json(raw) for raw in snapshot["track_state"].values()), key=lambda s: s.track)
            ],
        )
        return summary

    def ended(self, session: str) -> dict[str, Any] | None:
        raw = self.client.get(self.keys.session(session))
        if raw is None:
            return None
        summary: dict[str, Any] = json.loads(raw)
        summary["state"] = "ended"
        return summary

    def get(self, session: str) -> dict[str, Any] | None:
        """The stored summary of an ended session, else the live view of an open one, else None."""
        if not is_session_id(session):  # refused before it reaches Redis (config.ids)
            return None
        return self.ended(session) or self.live(session)

    def list_open(self, source: str | None = None) -> list[dict[str, Any]]:
        out = []
        for session in self.store.open_sessions():
            view = self.live(session)
            if view is not None and (source is None or view["source"] == source):
                out.append(brief(view))
        return sorted(out, key=lambda s: s["started_at"], reverse=True)

    def list_ended(self, source: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Newest first. Summaries past their retention have expired and are skipped."""
        out: list[dict[str, Any]] = []
        start = 0
        page = max(limit, 100)
        while len(out) < limit:
            reply: Any = self.client.zrevrange(self.keys.sessions_index, start, start + page - 1)
            ids = [text(i) for i in reply]
            if not ids:
                break
            start += page
            pipe = self.client.pipeline(transaction=False)  # not MGET: on a cluster the summaries lie in many slots
            for session in ids:
                pipe.get(self.keys.session(session))
            for raw in pipe.execute():
                if raw is None:
                    continue
                summary = json.loads(raw)
                if source is None or summary["source"] == source:
                    out.append(brief(summary))
        return out[:limit]

    def list_all(self, source: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        return self.list_open(source) + self.list_ended(source, limit)
