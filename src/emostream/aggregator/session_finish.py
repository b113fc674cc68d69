"""Which open sessions an aggregator finishes, and finishing them: end the tracks, summarise, publish once.

A session is summarised when its end message has arrived and all the faces it
announced have been counted (events plus faces the classifiers dropped), or
``end_grace_s`` after the end message at the latest. Each aggregator finishes
the sessions of the sources it leases; a session of a source no aggregator can
lease (never registered) is finished by any of them. The close publishes a
summary once whoever tries (see ``session_close``); whoever published it counts it
in its metrics, so the sum over aggregators is exact.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import redis

from emostream.aggregator.faults import FinishFaults, brief
from emostream.aggregator.held_events import HeldEvents
from emostream.aggregator.leases import SourceLeases
from emostream.aggregator.sharing import SourceSharing
from emostream.aggregator.store import SessionStore
from emostream.aggregator.summary import build_summary
from emostream.aggregator.summaryfiles import write_summary_json, write_timeline_png
from emostream.config import AggregatorConfig
from emostream.infra.metrics import AggregatorMetrics

log = logging.getLogger(__name__)


class SessionFinisher:
    def __init__(
        self,
        cfg: AggregatorConfig,
        store: SessionStore,
        leases: SourceLeases,
        sharing: SourceSharing,
        held: HeldEvents,
        metrics: AggregatorMetrics,
        clock: Callable[[], float],
    ) -> None:
        self.cfg = cfg
        self.store = store
        self.leases = leases
        self.sharing = sharing
        self.held = held  # what is held is applied before a session's tracks end: a held face may be the session's
        self.metrics = metrics
        self.clock = clock
        self.summaries = 0
        self.faults = FinishFaults(metrics, str(cfg.summary_dir))

    def own(self) -> dict[str, dict[str, str]]:
        """The open sessions this aggregator finishes, with their state: those of the sources it leases, and orphans."""
        sessions = self.store.open_sessions()
        owned = self.leases.owned
        return {
            session: state
            for session, state in zip(sessions, self.store.states(sessions), strict=True)
            if state.get("source") in owned or state.get("source") not in self.sharing.registered
        }

    def finish(self) -> None:
        """Summarise every own session that is complete, or whose grace after its end is over."""
        own = self.own()
        self.metrics.sessions_active.set(len(own))
        for session, state in own.items():
            if "summarised" in state:  # a close another stopped in (cluster), or listed again by a late duplicate
                if (summary := self.store.finish_closed(session, self.cfg.summary_ttl_s)) is not None:
                    self._count(summary)
                    log.info("aggregator: session %s summarised (finished the close another aggregator began)", session)
                continue
            if "end" not in state:
                continue
            expected = int(json.loads(state["end"]).get("faces", 0))
            counted = int(state.get("events", 0)) + int(state.get("dropped", 0))  # dropped faces are never events
            waited = self.clock() - float(state.get("end_received_ts", 0))
            if counted < expected and waited < self.cfg.end_grace_s:
                continue
            if counted < expected:
                log.warning("aggregator: session %s ends with %d of %d events after %.0f s", session, counted, expected, waited)
            self._summarise(session)

    def _summarise(self, session: str) -> None:
        """Build, write and publish one session's summary; a failing part is retried, then done without (see ``faults``).

        Redis errors propagate (the loop reconnects and tries again); any other
        failure stays with this session.
        """
        if not self.faults.due(session):
            return
        try:
            self.held.end_tracks(session)
            snapshot = self.store.snapshot(session)
            summary = build_summary(session, snapshot, self.cfg.chart_bucket_s)
            written = self._write(session, summary)
            if written is None:
                return
            published = self.store.close_session(session, summary, self.cfg.summary_ttl_s, self.clock(), snapshot["state"])
        except redis.RedisError:
            raise
        except Exception as exc:
            if self.faults.failed(session, "summary", exc):
                self._abandon(session, exc)
            return
        self.faults.forget(session)
        if published:
            self._count(summary)
            log.info(
                "aggregator: session %s summarised: %d faces, %d tracks -> %s", session, summary["faces"], summary["tracks"],
                ", ".join(written) or "no files",
            )

    def _write(self, session: str, summary: dict[str, Any]) -> list[str] | None:
        """The names of the files written; None if a part failed and is to be tried again later."""
        folder = self.cfg.summary_dir
        written = []
        for part, write in (("summary_file", write_summary_json), ("chart", write_timeline_png)):
            if self.faults.given_up(session, part):
                continue
            try:
                written.append(str(write(summary, folder).name))
            except Exception as exc:
                if not self.faults.failed(session, part, exc):
                    return None
                continue
            self.faults.wrote()
        return written

    def _abandon(self, session: str, exc: Exception) -> None:
        """A session whose summary cannot be built: dead-lettered with the reason, and no longer open."""
        self.store.abandon(session, f"session could not be summarised: {brief(exc)}", self.clock())
        self.metrics.deadletters.labels("session").inc()
        self.faults.forget(session)

    def _count(self, summary: dict[str, Any]) -> None:
        self.summaries += 1
        self.metrics.sessions_ended.labels(summary["source"], summary["end_reason"]).inc()
