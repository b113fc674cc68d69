"""One source's session: when it starts, continues and ends, and the counts it carries.

DESIGN's rules, in one place: a session starts with the source's first
analysed frame; it ends when a file ends, the source is stopped, or a live
source has been down longer than ``ingest.session_timeout_s``; a reconnect
within that timeout continues it. A live session that has run for
``ingest.session_max_s`` (when set) ends too, and the next frame starts the
next one. A killed ingest resumes the session it left open from the
checkpoint (see ``checkpoint``). Every frame not analysed is
counted here, once, both in the session (for its summary) and in the metrics.
"""

from __future__ import annotations

import logging
from typing import Any

from emostream.config import SourceConfig
from emostream.infra.metrics import DropReason, FrameOutcome
from emostream.infra.redact import redact
from emostream.ingest import checkpoint
from emostream.ingest.runner_parts import RunnerParts
from emostream.ingest.session import IngestSession

log = logging.getLogger(__name__)


class SessionKeeper:
    def __init__(self, src: SourceConfig, parts: RunnerParts) -> None:
        self.src, self.parts = src, parts
        self.live = src.is_live
        self.name = redact(src.url)
        self.fingerprint = checkpoint.url_fingerprint(src.url)  # once per source, not per frame
        self.nominal = 1.0 / src.fps if self.live else 0.0
        self.session: IngestSession | None = None
        frames = parts.metrics.frames
        self._frames = {outcome: frames.labels(src.id, outcome) for outcome in FrameOutcome}
        self._dropped = {reason: parts.metrics.dropped.labels(src.id, reason) for reason in DropReason}

    @property
    def session_id(self) -> str | None:
        return self.session.id if self.session else None

    def current(self) -> IngestSession:
        """The open session, started now if there is none."""
        if self.session is None:
            session = IngestSession(self.src.id, self.parts.config.tracker, self.nominal, started_ts=self.parts.clock.time())
            self.parts.publisher.register(self.src.id)
            self.parts.publisher.session_started(session.start_message(self.name))
            self.parts.metrics.sessions.labels(self.src.id).inc()
            log.info("source %s: session %s started", self.src.id, session.id)
            self.session = session
        return self.session

    def end(self, reason: str) -> None:
        session, self.session = self.session, None
        if session is None:
            return
        now = self.parts.clock.time()
        mark = None
        if reason == "eof" and not self.live and not self.src.loop:  # a looping file is never done
            mark = checkpoint.ended(session.id, self.fingerprint, checkpoint.file_identity(self.src.url), now)
        self.parts.publisher.session_ended(session.end_message(reason, now), checkpointed=session.analysed > 0, mark=mark)
        pending = session.tracker.pending()  # tentative tracks the session ended on: never confirmed
        if pending:
            self.parts.metrics.tracks.labels(self.src.id, "unconfirmed").inc(pending)
        log.info(
            "source %s: session %s ended (%s): %d frames analysed, %d skipped, %d dropped, %d failed, %d faces (%d unconfirmed, "
            "not published)",
            self.src.id, session.id, reason, session.analysed, session.skipped, session.dropped, session.failed, session.faces,
            session.faces_unconfirmed,
        )

    def expire(self, down_since: float | None) -> bool:
        """A live source down longer than the session timeout ends its session; returns whether it did."""
        timeout = self.parts.config.ingest.session_timeout_s
        if self.session is not None and down_since is not None and self.parts.clock.monotonic() - down_since > timeout:
            self.end("timeout")
            return True
        return False

    def split_if_due(self) -> None:
        """End a live session that has run ``ingest.session_max_s`` (0: never); the next frame starts the next one."""
        limit = self.parts.config.ingest.session_max_s
        if self.live and limit and self.session is not None and self.parts.clock.time() - self.session.started_ts >= limit:
            self.end("max_duration")

    def resume(self) -> int | None:
        """Continue the session a killed ingest left open; returns the last frame index it analysed (-1: none, None: done).

        None: the file was played to its end already (its checkpoint is an
        ended mark of this very file) and ``ingest.exit_at_end`` is off, so this
        start is a restart of a running service, not a request to play it; or
        this is a role's child started again after it died, and the mark is
        from this role's run (``RunnerParts.ended_since``).
        """
        body = self.parts.publisher.checkpoint(self.src.id)
        if body is None:
            return -1
        same = body["url"] == self.fingerprint and body["live"] == self.live
        if checkpoint.is_ended(body):
            return None if same and self._done(body) else -1  # else played anew: its first frame's checkpoint replaces the mark
        recent = self.parts.clock.time() - float(body["updated_ts"]) <= self.parts.config.ingest.session_timeout_s
        self.session = checkpoint.restore(body, self.src.id, self.parts.config.tracker, self.nominal)
        if same and (recent or not self.live):
            log.info("source %s: resuming session %s after %d analysed frames", self.src.id, self.session.id, self.session.analysed)
            return -1 if self.live else int(body["frame_index"])
        # The source changed, or was down too long: end the old session properly, then start afresh.
        self.end("timeout" if same else "stopped")
        return -1

    def _done(self, mark: dict[str, Any]) -> bool:
        """Whether an ended mark keeps this file from being played again (see :meth:`resume`)."""
        since = self.parts.ended_since  # a restarted child of a role: what ended in the role's lifetime stays ended
        replay = self.parts.config.ingest.exit_at_end and (since is None or float(mark.get("updated_ts", 0.0)) < since)
        if replay or self.src.loop or mark.get("file") != checkpoint.file_identity(self.src.url):
            return False
        log.info(
            "source %s: %s was played to its end in session %s; not played again (change the file, e.g. touch it, "
            "or delete the key %s to play it again)", self.src.id, self.name, mark["session"], self.parts.publisher.checkpoint_key(self.src.id),
        )
        return True

    def snapshot(self, frame_index: int) -> str:
        assert self.session is not None
        return checkpoint.snapshot(self.session, frame_index, self.fingerprint, self.live, self.parts.clock.time())

    # --- counts ---------------------------------------------------------------

    def analysed(self) -> None:
        self._frames[FrameOutcome.ANALYSED].inc()

    def dropped(self, reason: DropReason, count: int = 1) -> None:
        """Frames not analysed because the classifiers are behind (``backlog``) or their queue is stale (``age``)."""
        if count <= 0:
            return
        if self.session is not None:
            self.session.dropped += count
            if reason is DropReason.AGE:
                self.session.dropped_age += count
        self._frames[FrameOutcome.DROPPED].inc(count)
        self._dropped[reason].inc(count)

    def skipped(self, count: int) -> None:
        """Frames a live source delivered beyond ``fps``, replaced by newer ones before analysis."""
        if count <= 0:
            return
        if self.session is not None:
            self.session.skipped += count
        self._frames[FrameOutcome.SKIPPED].inc(count)

    def failed(self, count: int = 1) -> None:
        if count <= 0:
            return
        if self.session is not None:
            self.session.failed += count
        self._frames[FrameOutcome.FAILED].inc(count)
