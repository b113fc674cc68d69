"""Publishing a session's summary exactly once, on one Redis and on a Redis Cluster.

Details at :func:`make_close`.
"""

from __future__ import annotations

import json
from typing import Any

import redis

from emostream.streams.keys import SESSION_STATE_TTL_S, SESSIONS_MAXLEN, Keys, SessionPart
from emostream.streams.records import encode_summary
from emostream.streams.scripts import script_pipeline
from emostream.streams.session_scripts import SessionScripts


def _index(pipe: Any, keys: Keys, session: str, summary: dict[str, Any], retention_s: int, at: float) -> None:
    """Store the summary ``retention_s`` under its own key, list it scored by ``at``, prune the index, let the state expire."""
    pipe.set(keys.session(session), json.dumps(summary), ex=retention_s)
    pipe.zadd(keys.sessions_index, {session: at})
    pipe.zremrangebyscore(keys.sessions_index, "-inf", at - retention_s)
    # Keep the working state a while, so late duplicates are still recognised.
    for part in SessionPart:
        pipe.expire(keys.agg(session, part), SESSION_STATE_TTL_S)


class SingleClose:
    """One Redis: the flag and every write in one MULTI/EXEC, watched on the session's state."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.client, self.keys = client, keys

    def close(self, session: str, summary: dict[str, Any], retention_s: int, now: float, counted: dict[str, str]) -> bool:
        """True if the summary was published now; False if another aggregator did, or the session changed meanwhile.

        A connection lost before EXEC leaves nothing done (the next pass tries
        again), one lost after it leaves everything done. ``counted`` is not
        needed: the WATCH sees any change of the state.
        """
        state = self.keys.agg(session, SessionPart.STATE)
        with self.client.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(state)  # type: ignore[no-untyped-call]
                if pipe.hexists(state, "summarised"):
                    pipe.unwatch()
                    return False
                pipe.multi()
                pipe.hset(state, "summarised", repr(now))
                pipe.xadd(self.keys.sessions, encode_summary(summary), maxlen=SESSIONS_MAXLEN, approximate=True)  # type: ignore[arg-type]
                _index(pipe, self.keys, session, summary, retention_s, now)
                pipe.srem(self.keys.open_sessions, session)
                pipe.execute()
            except redis.WatchError:
                return False
        return True

    def finish(self, session: str, retention_s: int) -> dict[str, Any] | None:
        """Nothing to publish (a flagged session was published in the same transaction); only the listing to clear.

        A flagged session is listed as open again when a late duplicate of one of its
        events (a redelivery) or a late message was recorded after its close; it is
        taken off the list, or it would stay "open" for ever.
        """
        self.client.srem(self.keys.open_sessions, session)
        return None


class ClusterClose:
    """A Redis Cluster: the decision in the session's slot, then idempotent writes (see :func:`make_close`)."""

    def __init__(self, client: redis.Redis, keys: Keys, scripts: SessionScripts) -> None:
        self.client, self.keys, self.scripts = client, keys, scripts

    def close(self, session: str, summary: dict[str, Any], retention_s: int, now: float, counted: dict[str, str]) -> bool:
        """True if this call published the summary; False if another did, or faces were counted since ``counted`` was read."""
        stored = json.dumps({"summary": summary, "at": now})
        decided = self.scripts.decide_close(session, now, counted.get("events", "0"), counted.get("dropped", "0"), stored)()
        if decided == -1:
            return False
        return self.finish(session, retention_s) is not None

    def finish(self, session: str, retention_s: int) -> dict[str, Any] | None:
        """Publish a flagged session's stored summary unless already published; the summary if this call published it."""
        raw = self.client.get(self.keys.agg(session, SessionPart.CLOSING))
        if raw is None:  # its working state expired long after the close: only the listing is left to clear
            self.client.srem(self.keys.open_sessions, session)
            return None
        stored = json.loads(raw)
        summary, at = stored["summary"], float(stored["at"])
        fields = [part for name, value in encode_summary(summary).items() for part in (name, value)]
        guard_s = max(retention_s, SESSION_STATE_TTL_S)  # longer than any pass could be late to finish the close
        pipe = script_pipeline(self.client)
        pipe.add(self.scripts.publish_summary_once(session, guard_s, fields))
        _index(pipe.pipe, self.keys, session, summary, retention_s, at)
        published = pipe.execute()[0] == 1
        self.client.srem(self.keys.open_sessions, session)  # last: until here, the next pass finishes the close again
        return summary if published else None


def make_close(client: redis.Redis, keys: Keys, scripts: SessionScripts) -> SingleClose | ClusterClose:
    """The close that suits ``client``: a cluster client gets :class:`ClusterClose`.

    Closing a session writes keys of four slots on a cluster: the session's state
    (``agg:{<session>}:*``), the ``sessions`` stream, the stored summary
    ``session:<id>``, and the lists ``sessions:index`` and ``agg:open``. One Redis
    does it in one watched MULTI/EXEC (:class:`SingleClose`); a cluster runs a
    transaction or a script within one slot only, so :class:`ClusterClose` splits it:

    1. **The decision, in the session's slot.** One Lua call flags the session
       ``summarised`` and stores what is to be published (``agg:{<session>}:closing``),
       unless it is flagged already, or unless its ``events``/``dropped`` counts are
       no longer those the summary was built from (a face counted meanwhile: the
       next pass builds it again, as the single Redis's WATCH would make it).
    2. **The publication, idempotent.** The summary goes to ``sessions`` by a Lua
       call in that stream's slot that first sets a guard key
       (``<prefix>:published:{<prefix>:sessions}:<session>``, ``SET NX`` with an
       expiry): a repeat publishes nothing. The stored summary, the index and the
       working state's expiry are plain overwrites.
    3. **Leaving ``agg:open``** comes last. Until then the session is open and
       flagged, and the next pass of whoever finishes its sessions
       (:meth:`ClusterClose.finish`) makes step 2 again from the stored copy: an
       aggregator killed between the steps loses nothing and publishes nothing twice.

    Whoever's guarded append published the summary gets it back (and counts it in
    its metrics), so every summary is counted once too.
    """
    return ClusterClose(client, keys, scripts) if isinstance(client, redis.RedisCluster) else SingleClose(client, keys)
