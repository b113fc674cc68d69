"""One source on its own thread: open, pace, apply backpressure, analyse; reconnect when it drops.

Files are read to the end, every frame (or every n-th) analysed, waiting
when the classifiers fall behind. Live sources keep only the newest frame,
analyse at most ``fps`` per second and drop frames (counted, with the reason)
while the classifiers are behind: see ``policy.Backpressure``. A live source
that fails to open, ends, errors or stalls is reconnected with exponential
backoff and jitter; the session rules are ``session_keeper.SessionKeeper``'s. Each
runner has its own stop event, so a source can be removed at run time without
touching the others.

The runner is built from its parts (``runner_parts.RunnerParts``), never from the
worker, so its state machine runs in unit tests with a scripted source and a
fake clock.
"""

from __future__ import annotations

import functools
import logging
import threading

from emostream.config import SourceConfig
from emostream.config.sources import paced_by_pts
from emostream.ingest.ahead import Ahead
from emostream.ingest.analyse import Detected, FrameAnalyser
from emostream.ingest.backoff import Backoff
from emostream.ingest.detectpool import DetectPool
from emostream.ingest.errors import SourceError
from emostream.ingest.fileplay import Feed, Inline, Step, file_steps
from emostream.ingest.frame import Frame
from emostream.ingest.pacing import FilePacer, LivePacer
from emostream.ingest.policy import Backpressure, Limits, SourceState, Verdict
from emostream.ingest.runner_parts import Feed as LiveFeed
from emostream.ingest.runner_parts import RunnerParts, Source
from emostream.ingest.session_keeper import SessionKeeper

log = logging.getLogger(__name__)

# A source failing the same way again is logged at most this often (it is counted every time).
REPEAT_LOG_S = 300.0
FILE_WAIT_S = 0.05  # how often a waiting file asks again whether the classifiers caught up
STOP_AHEAD_S = 5.0  # how long a stopping file source waits for its decode thread


class SourceRunner:
    """Everything about one source, run on its own thread (or called with ``run()`` in a test)."""

    def __init__(self, src: SourceConfig, parts: RunnerParts, origin: str = "config") -> None:
        self.src, self.parts, self.origin = src, parts, origin  # origin: "config" or "runtime"
        self.live = src.is_live
        self.keeper = SessionKeeper(src, parts)
        self.name = self.keeper.name
        self.policy = Backpressure.for_source(self.live)
        ing = parts.config.ingest
        self.limits = Limits(ing.backlog_max, ing.max_queue_age_ms)
        self.clock = parts.clock
        self.state = SourceState.STARTING
        self.last_error: str | None = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, name=f"ingest:{src.id}", daemon=True)
        self._logged: dict[str, float] = {}
        self._up = parts.metrics.source_up.labels(src.id)

    def start(self) -> None:
        self.thread.start()

    def describe(self) -> dict[str, object]:
        """What ``emostream sources list`` and /healthz show (no credentials)."""
        return {
            "id": self.src.id,
            "url": self.name,
            "live": self.live,
            "origin": self.origin,
            "state": self.state.value,
            "session": self.keeper.session_id,
            "error": self.last_error,
        }

    def _source_error(self, exc: SourceError, what: str, level: int = logging.ERROR) -> None:
        """Count every failure; log a kind the first time and then at most every REPEAT_LOG_S."""
        self.parts.metrics.errors.labels(self.src.id, exc.kind).inc()
        self.last_error = f"{exc.kind}: {exc.detail}"
        now = self.clock.monotonic()
        last = self._logged.get(exc.kind)
        if last is None or now - last >= REPEAT_LOG_S:
            self._logged = {exc.kind: now}
            log.log(level, "source %s: %s (%s): %s", self.src.id, what, exc.kind, exc)
        else:
            log.debug("source %s: %s (%s): %s", self.src.id, what, exc.kind, exc)

    def _admit(self, analyser: FrameAnalyser, frame: Frame, detected: Detected | None = None) -> None:
        """Analyse the frame, or wait (file) or drop it (live) as the backpressure policy says."""
        while True:
            verdict = self.policy.decide(self.parts.probe.state(), self.limits)
            if verdict is Verdict.ANALYSE:
                analyser.analyse(frame, detected)
                return
            if verdict is not Verdict.WAIT:
                self.keeper.dropped(verdict.drop_reason)
                return
            if self.clock.wait(self.stop, FILE_WAIT_S):
                return

    # --- the loops ----------------------------------------------------------

    def run(self) -> None:
        try:
            detector = self.parts.make_detector()
            pool = None if self.live else self.parts.detect_pool()  # the worker's detection threads, shared by its files
        except Exception:
            self.state = SourceState.FAILED
            log.exception("source %s: cannot build the %s detector", self.src.id, self.parts.config.detector.backend)
            return
        try:
            analyser = FrameAnalyser(self.src, self.parts, self.keeper, detector)
            self._run_live(analyser) if self.live else self._run_file(analyser, pool)
        except Exception:
            self.state = SourceState.FAILED
            log.exception("source %s (%s) failed unexpectedly", self.src.id, self.name)
            self.keeper.end("error")
        finally:
            detector.close()
            self._up.set(0)

    def _open(self) -> Source:
        if self.state is not SourceState.DOWN:
            self.state = SourceState.CONNECTING
        return self.parts.open_source(self.src)

    def _run_file(self, analyser: FrameAnalyser, pool: DetectPool | None) -> None:
        keeper = self.keeper
        resume_after = keeper.resume()
        if resume_after is None:  # played to its end before this start (see SessionKeeper.resume)
            self.state = SourceState.ENDED
            return
        while not self.stop.is_set():
            try:
                source = self._open()
            except SourceError as exc:
                self.state = SourceState.FAILED
                self._source_error(exc, "cannot open")
                return
            self._up.set(1)
            self.state = SourceState.UP
            pacer = FilePacer(self.src.every_nth, self.src.realtime, clock=self.clock.monotonic, sleep=self._sleep)
            feed = self._file_feed(source, pacer, resume_after, analyser, pool)
            reason, seen_errors = "eof", 0
            try:
                for step in feed:
                    self.parts.stages.lap("wait")  # for the decode thread's next step (decode_ahead); ~0 inline
                    keeper.failed(step.decode_errors - seen_errors)
                    seen_errors = step.decode_errors
                    if self.stop.is_set():
                        reason = "stopped"
                        break
                    if step.analyse:
                        self._admit(analyser, step.frame, step.detected)
            except SourceError as exc:
                reason = "error"
                keeper.failed(source.decode_errors - seen_errors)
                self._source_error(exc, "cannot read" if exc.kind != "corrupt" else "damaged")
            finally:
                if feed.close(STOP_AHEAD_S):
                    source.close()  # closed already unless the steps never started
                else:  # the decode thread closes the source itself when it gets there
                    log.warning("source %s: its decode thread did not stop within %.0f s", self.src.id, STOP_AHEAD_S)
                self._up.set(0)
            keeper.end(reason)
            resume_after = -1
            if not self.src.loop or reason != "eof":
                self.state = {"stopped": SourceState.STOPPED, "error": SourceState.FAILED}.get(reason, SourceState.ENDED)
                return
        self.state = SourceState.STOPPED

    def _file_feed(self, source: Source, pacer: FilePacer, resume_after: int, analyser: FrameAnalyser, pool: DetectPool | None) -> Feed[Step]:
        """The file's steps: on a decode thread, detected ahead (``ingest.decode_ahead`` > 0; due frames handed to ``pool``
        when there is one), or on this thread."""
        depth = self.parts.decode_ahead
        captured = self.clock.time if self.src.realtime else None
        prepare = (functools.partial(analyser.detect, submit=pool.submit) if pool else analyser.detect) if depth else None
        steps = file_steps(source, pacer, resume_after, captured, prepare, self.parts.stages)
        return Ahead(steps, depth, f"decode:{self.src.id}") if depth else Inline(steps)

    def _sleep(self, seconds: float) -> None:
        self.clock.wait(self.stop, seconds)

    def _run_live(self, analyser: FrameAnalyser) -> None:
        keeper, ing = self.keeper, self.parts.config.ingest
        keeper.resume()
        backoff = Backoff(ing.reconnect_initial_s, ing.reconnect_max_s, rand=self.parts.rand)
        down_since: float | None = None  # monotonic time the source went down; None while up
        failures = 0
        while not self.stop.is_set():
            keeper.expire(down_since)
            began = self.clock.monotonic()
            try:
                source = self._open()
            except SourceError as exc:
                self.state = SourceState.DOWN
                self._source_error(exc, "cannot open" if down_since is None and keeper.session is None else "cannot reconnect")
                failures += 1
                if ing.reconnect_attempts and failures > ing.reconnect_attempts:
                    log.error("source %s: giving up after %d failed attempts", self.src.id, failures)
                    self.state = SourceState.FAILED
                    break
                down_since = began if down_since is None else down_since
                self._wait_down(backoff.next(), down_since)
                continue
            keeper.expire(down_since)
            if down_since is not None:
                log.info("source %s: connected again after %.1f s down", self.src.id, self.clock.monotonic() - down_since)
            else:
                log.info("source %s: connected to %s in %.2f s", self.src.id, self.name, self.clock.monotonic() - began)
            backoff.reset()
            failures, down_since, self.last_error = 0, None, None
            self.state = SourceState.UP
            self._up.set(1)
            error = self._stream_live(source, analyser, began)
            self._up.set(0)
            if error is None:  # stopped
                break
            self.state = SourceState.DOWN
            self._source_error(error, "disconnected", logging.WARNING)
            down_since = self.clock.monotonic()
            # A camera that dropped the connection is usually back at once: first retry after the initial delay.
            self._wait_down(backoff.next(), down_since)
        keeper.end("stopped" if self.stop.is_set() else "error")
        if self.stop.is_set():
            self.state = SourceState.STOPPED

    def _wait_down(self, delay: float, down_since: float) -> None:
        """Sleep ``delay`` s (or until stopped), ending the session when the timeout passes meanwhile; counts the reconnect."""
        until = self.clock.monotonic() + delay
        timeout = self.parts.config.ingest.session_timeout_s
        while not self.stop.is_set():
            now = self.clock.monotonic()
            if now >= until:
                self.parts.metrics.reconnects.labels(self.src.id).inc()
                return
            if self.keeper.session is not None and not self.keeper.expire(down_since):
                self.clock.wait(self.stop, min(until, down_since + timeout + 0.01) - now)
            elif self.keeper.session is None:
                self.clock.wait(self.stop, until - now)

    def _stream_live(self, source: Source, analyser: FrameAnalyser, began: float) -> SourceError | None:
        """Analyse the newest frames until the source fails (returns why) or the runner stops (None)."""
        keeper = self.keeper
        pacer = LivePacer(self.src.fps, clock=self.clock.monotonic)
        # A camera sends at its own pace already; a lavfi graph, or a file played as a camera, is paced by its timestamps.
        feed: LiveFeed = self.parts.live_feed(source, paced_by_pts(self.src.url, self.src.realtime))
        seen_overwritten = seen_errors = 0
        first = True
        try:
            while not self.stop.is_set():
                self.clock.wait(self.stop, pacer.wait_s())
                try:
                    frame = feed.take(self.parts.config.ingest.read_timeout_s)
                except SourceError as exc:
                    return exc
                finally:
                    keeper.skipped(feed.overwritten - seen_overwritten)
                    keeper.failed(feed.decode_errors - seen_errors)
                    seen_overwritten, seen_errors = feed.overwritten, feed.decode_errors
                self.parts.stages.lap("wait for a frame")  # decoded on the reader's thread; this is pacing and waiting
                if frame is None:
                    return None
                if first:
                    self.parts.metrics.first_frame.labels(self.src.id).observe(self.clock.monotonic() - began)
                    first = False
                pacer.admit()
                keeper.split_if_due()
                self._admit(analyser, frame)
            return None
        finally:
            feed.stop()
