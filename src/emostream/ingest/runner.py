"""One source on its own thread: open, pace, detect, track, crop, publish; reconnect when it drops.

Files are read to the end, every frame (or every n-th) analysed, waiting
when the classifiers fall behind. Live sources keep only the newest frame,
analyse at most ``fps`` per second and drop the rest (counted); a live source
that fails to open, ends, errors or stalls is reconnected with exponential
backoff and jitter, and a reconnect within ``ingest.session_timeout_s``
continues the session. Each runner has its own stop event, so a source can be
removed at run time without touching the others.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from emostream.config import SourceConfig
from emostream.detector import Detector, make_detector
from emostream.ingest import checkpoint
from emostream.ingest.backoff import Backoff
from emostream.ingest.crop import crop_face
from emostream.ingest.errors import SourceError
from emostream.ingest.pacing import FilePacer, LivePacer
from emostream.ingest.reader import LatestFrameReader
from emostream.ingest.session import IngestSession
from emostream.ingest.sources import Frame, VideoSource, source_kind
from emostream.ingest.tracking.detections import confident_from, detector_config, track_faces
from emostream.messages import FaceJob, LifecycleMessage, encode_lifecycle
from emostream.redact import redact
from emostream.viewer.preview import PreviewPublisher

if TYPE_CHECKING:
    from emostream.ingest.worker import IngestWorker

log = logging.getLogger(__name__)

# A source failing the same way again is logged at most this often (it is counted every time).
REPEAT_LOG_S = 300.0


class SourceRunner:
    """Everything about one source, run on its own thread."""

    def __init__(self, worker: IngestWorker, src: SourceConfig, origin: str = "config") -> None:
        self.worker = worker
        self.src = src
        self.origin = origin  # "config" or "runtime"
        self.cfg = worker.config
        self.live = src.is_live
        self.name = redact(src.url)
        self.metrics = worker.metrics
        self.session: IngestSession | None = None
        self.state = "starting"  # starting, connecting, up, down, ended, failed, stopped
        self.last_error: str | None = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._main, name=f"ingest:{src.id}", daemon=True)
        self._logged: dict[str, float] = {}
        self.preview = self._preview_publisher()
        self._confident_from = confident_from(self.cfg.detector)

    def _preview_publisher(self) -> PreviewPublisher | None:
        """Frames for the live web page, only when it is enabled (see docs/viewer.md)."""
        web = self.cfg.web
        if not web.enabled:
            return None
        return PreviewPublisher(self.worker.client, self.worker.keys, self.src.id, web.preview_fps, web.preview_width, web.blur_faces)

    def start(self) -> None:
        self.thread.start()

    def describe(self) -> dict[str, object]:
        """What ``emostream sources list`` and /healthz show (no credentials)."""
        return {
            "id": self.src.id,
            "url": self.name,
            "live": self.live,
            "origin": self.origin,
            "state": self.state,
            "session": self.session.id if self.session else None,
            "error": self.last_error,
        }

    # --- publishing -------------------------------------------------------

    def _publish_lifecycle(self, message: LifecycleMessage) -> None:
        w = self.worker
        fields: Any = encode_lifecycle(message)
        w.reconnector.call(lambda: w.client.xadd(w.keys.lifecycle, fields, maxlen=100_000, approximate=True))

    def _start_session(self) -> IngestSession:
        nominal = 1.0 / self.src.fps if self.live else 0.0
        session = IngestSession(self.src.id, self.cfg.tracker, nominal)
        w = self.worker
        w.reconnector.call(lambda: w.client.sadd(w.keys.sources, self.src.id))
        self._publish_lifecycle(session.start_message(self.name))
        self.metrics.sessions.labels(self.src.id).inc()
        log.info("source %s: session %s started", self.src.id, session.id)
        return session

    def _end_session(self, reason: str) -> None:
        session, self.session = self.session, None
        if session is None:
            return
        w = self.worker
        fields: Any = encode_lifecycle(session.end_message(reason))

        def publish() -> None:
            pipe = w.client.pipeline(transaction=True)
            pipe.xadd(w.keys.lifecycle, fields, maxlen=100_000, approximate=True)
            pipe.delete(w.keys.checkpoint(self.src.id))
            pipe.execute()

        def published() -> bool:  # the checkpoint goes with the end message
            body = checkpoint.load(w.client, w.keys.checkpoint(self.src.id))
            return body is None or body["session"] != session.id

        # A session that analysed no frame never wrote a checkpoint to tell by; a second
        # end message is harmless there (the aggregator records an end idempotently).
        w.reconnector.call(publish, committed=published if session.analysed else None)
        log.info(
            "source %s: session %s ended (%s): %d frames analysed, %d skipped, %d dropped, %d failed, %d faces",
            self.src.id, session.id, reason, session.analysed, session.skipped, session.dropped, session.failed, session.faces,
        )

    def _resume(self) -> int:
        """Continue the session a killed ingest left open; returns the last frame index it analysed (-1: none)."""
        w = self.worker
        body = w.reconnector.call(lambda: checkpoint.load(w.client, w.keys.checkpoint(self.src.id)))
        if body is None:
            return -1
        same = body["url"] == checkpoint.url_fingerprint(self.src.url) and body["live"] == self.live
        recent = time.time() - float(body["updated_ts"]) <= self.cfg.ingest.session_timeout_s
        nominal = 1.0 / self.src.fps if self.live else 0.0
        if same and (recent or not self.live):
            self.session = checkpoint.restore(body, self.src.id, self.cfg.tracker, nominal)
            log.info("source %s: resuming session %s after %d analysed frames", self.src.id, self.session.id, self.session.analysed)
            return -1 if self.live else int(body["frame_index"])
        # The source changed, or was down too long: end the old session properly, then start afresh.
        self.session = checkpoint.restore(body, self.src.id, self.cfg.tracker, nominal)
        self._end_session("timeout" if same else "stopped")
        return -1

    # --- errors and counts ----------------------------------------------------

    def _source_error(self, exc: SourceError, what: str, level: int = logging.ERROR) -> None:
        """Count every failure; log a kind the first time and then at most every REPEAT_LOG_S."""
        self.metrics.errors.labels(self.src.id, exc.kind).inc()
        self.last_error = f"{exc.kind}: {exc.detail}"
        now = time.monotonic()
        last = self._logged.get(exc.kind)
        if last is None or now - last >= REPEAT_LOG_S:
            self._logged = {exc.kind: now}
            log.log(level, "source %s: %s (%s): %s", self.src.id, what, exc.kind, exc)
        else:
            log.debug("source %s: %s (%s): %s", self.src.id, what, exc.kind, exc)

    def _drop(self, count: int = 1) -> None:
        """Frames not analysed because the classifiers are behind (backpressure)."""
        if count <= 0:
            return
        if self.session is not None:
            self.session.dropped += count
        self.metrics.frames.labels(self.src.id, "dropped").inc(count)

    def _skip(self, count: int) -> None:
        """Frames a live source delivered beyond ``fps``, replaced by newer ones before analysis."""
        if count <= 0:
            return
        if self.session is not None:
            self.session.skipped += count
        self.metrics.frames.labels(self.src.id, "skipped").inc(count)

    def _failed(self, count: int = 1) -> None:
        if count <= 0:
            return
        if self.session is not None:
            self.session.failed += count
        self.metrics.frames.labels(self.src.id, "failed").inc(count)

    def _over_backlog(self) -> bool:
        return self.worker.backlog.value() >= self.cfg.ingest.backlog_max

    # --- one frame --------------------------------------------------------

    def _process(self, frame: Frame, detector: Detector) -> None:
        session = self.session or self._start_session()
        self.session = session
        began = time.perf_counter()
        src, det_cfg, card = self.src.id, self.cfg.detector, self.worker.card
        try:
            detections = detector.detect(frame.image)
        except Exception:
            self._failed()
            log.exception("source %s: detection failed on frame %d", src, frame.index)
            return
        big = [d for d in detections if min(d.w, d.h) >= det_cfg.min_face_px]
        skipped = len(detections) - len(big)
        offset, interval = session.clock(frame.pts, frame.captured_ts, self.live)
        tracked = track_faces(session.tracker, frame.image, big, self._confident_from, offset)
        jobs = [(det, track, crop_face(frame.image, det.box, card, det_cfg.margin)) for det, track in tracked]
        decode_detect_ms = (frame.decode_s + time.perf_counter() - began) * 1000.0
        height, width = frame.image.shape[:2]
        w = self.worker
        seq = session.seq
        session.seq += 1
        session.analysed += 1
        session.faces += len(jobs)
        session.faces_skipped += skipped
        state = checkpoint.snapshot(session, frame.index, self.src.url, self.live)

        def publish() -> None:
            # The frame's faces and the checkpoint after it, atomically: a restart resumes exactly here.
            pipe = w.client.pipeline(transaction=True)
            for det, track, crop in jobs:
                job = FaceJob(
                    source=src, session=session.id, seq=seq, pts=frame.pts, offset=offset, interval=interval,
                    captured_ts=frame.captured_ts, width=width, height=height, track=track, box=det.box,
                    detector=detector.name, score=det.score, decode_detect_ms=decode_detect_ms, crop=crop,
                )
                fields: Any = job.encode()
                pipe.xadd(w.keys.faces, fields, maxlen=self.cfg.redis.faces_maxlen, approximate=True)
            pipe.set(w.keys.checkpoint(src), state)
            pipe.execute()

        def published() -> bool:
            body = checkpoint.load(w.client, w.keys.checkpoint(src))
            return body is not None and body["session"] == session.id and body["frame_index"] >= frame.index

        w.reconnector.call(publish, committed=published)
        if self.preview is not None and self.preview.due():
            preview = self.preview
            w.reconnector.call(lambda: preview.publish(frame.image, session.id, seq, [d.box for d, _ in tracked], [t for _, t in tracked]))
        self.metrics.frames.labels(src, "analysed").inc()
        self.metrics.decode_detect.labels(src).observe(decode_detect_ms / 1000.0)
        if jobs:
            self.metrics.faces.labels(src, detector.name, "published").inc(len(jobs))
        if skipped:
            self.metrics.faces.labels(src, detector.name, "too_small").inc(skipped)

    # --- the loops ----------------------------------------------------------

    def _main(self) -> None:
        try:
            detector = make_detector(detector_config(self.cfg.detector, self.cfg.tracker))
        except Exception:
            self.state = "failed"
            log.exception("source %s: cannot build the %s detector", self.src.id, self.cfg.detector.backend)
            return
        try:
            (self._run_live if self.live else self._run_file)(detector)
        except Exception:
            self.state = "failed"
            log.exception("source %s (%s) failed unexpectedly", self.src.id, self.name)
            self._end_session("error")
        finally:
            detector.close()
            self.metrics.source_up.labels(self.src.id).set(0)

    def _open(self) -> VideoSource:
        ing = self.cfg.ingest
        self.state = "connecting" if self.state != "down" else "down"
        source = VideoSource(
            self.src.resolved_url(),
            live=self.live,
            rtsp_transport=self.src.rtsp_transport,
            open_timeout_s=ing.open_timeout_s,
            read_timeout_s=ing.read_timeout_s,
            max_pixels=ing.max_frame_pixels,
        )
        source.open()
        return source

    def _run_file(self, detector: Detector) -> None:
        resume_after = self._resume()
        while not self.stop.is_set():
            try:
                source = self._open()
            except SourceError as exc:
                self.state = "failed"
                self._source_error(exc, "cannot open")
                return
            self.metrics.source_up.labels(self.src.id).set(1)
            self.state = "up"
            pacer = FilePacer(self.src.every_nth, self.src.realtime)
            reason, seen_errors = "eof", 0
            try:
                for frame in source.frames():
                    self._failed(source.decode_errors - seen_errors)
                    seen_errors = source.decode_errors
                    if self.stop.is_set():
                        reason = "stopped"
                        break
                    if frame.index <= resume_after:  # analysed before a restart: only keep the count
                        pacer.skip()
                        continue
                    if not pacer.admit(frame.pts):
                        continue
                    if self.src.realtime:  # played as a camera: captured when due, not when decoded ahead of time
                        frame = dataclasses.replace(frame, captured_ts=time.time())
                    while self._over_backlog() and not self.stop.is_set():
                        self.stop.wait(0.05)  # files wait: every frame is analysed
                    self._process(frame, detector)
            except SourceError as exc:
                reason = "error"
                self._failed(source.decode_errors - seen_errors)
                self._source_error(exc, "cannot read" if exc.kind != "corrupt" else "damaged")
            finally:
                source.close()
                self.metrics.source_up.labels(self.src.id).set(0)
            self._end_session(reason)
            resume_after = -1
            if not self.src.loop or reason != "eof":
                self.state = "stopped" if reason == "stopped" else ("failed" if reason == "error" else "ended")
                return
        self.state = "stopped"

    def _run_live(self, detector: Detector) -> None:
        self._resume()
        ing = self.cfg.ingest
        backoff = Backoff(ing.reconnect_initial_s, ing.reconnect_max_s)
        down_since: float | None = None  # monotonic time the source went down; None while up
        failures = 0
        while not self.stop.is_set():
            self._expire_session(down_since)
            began = time.monotonic()
            try:
                source = self._open()
            except SourceError as exc:
                self.state = "down"
                self._source_error(exc, "cannot open" if down_since is None and self.session is None else "cannot reconnect")
                failures += 1
                if ing.reconnect_attempts and failures > ing.reconnect_attempts:
                    log.error("source %s: giving up after %d failed attempts", self.src.id, failures)
                    self.state = "failed"
                    break
                down_since = down_since or began
                self._wait_down(backoff.next(), down_since)
                if not self.stop.is_set():
                    self.metrics.reconnects.labels(self.src.id).inc()
                continue
            self._expire_session(down_since)
            if down_since is not None:
                log.info("source %s: connected again after %.1f s down", self.src.id, time.monotonic() - down_since)
            else:
                log.info("source %s: connected to %s in %.2f s", self.src.id, self.name, time.monotonic() - began)
            backoff.reset()
            failures, down_since, self.last_error = 0, None, None
            self.state = "up"
            self.metrics.source_up.labels(self.src.id).set(1)
            error = self._stream_live(source, detector, began)
            self.metrics.source_up.labels(self.src.id).set(0)
            if error is None:  # stopped
                break
            self.state = "down"
            self._source_error(error, "disconnected", logging.WARNING)
            down_since = time.monotonic()
            # A camera that dropped the connection is usually back at once: first retry after the initial delay.
            self._wait_down(backoff.next(), down_since)
            if not self.stop.is_set():
                self.metrics.reconnects.labels(self.src.id).inc()
        self._end_session("stopped" if self.stop.is_set() else "error")
        if self.stop.is_set():
            self.state = "stopped"

    def _expire_session(self, down_since: float | None) -> None:
        """A live source down longer than the session timeout ends its session."""
        if self.session is not None and down_since is not None and time.monotonic() - down_since > self.cfg.ingest.session_timeout_s:
            self._end_session("timeout")

    def _wait_down(self, delay: float, down_since: float) -> None:
        """Sleep ``delay`` s (or until stopped), ending the session when the timeout passes meanwhile."""
        until = time.monotonic() + delay
        while not self.stop.is_set():
            now = time.monotonic()
            if now >= until:
                return
            if self.session is not None:
                expires = down_since + self.cfg.ingest.session_timeout_s
                if now > expires:
                    self._end_session("timeout")
                    continue
                self.stop.wait(min(until, expires + 0.01) - now)
            else:
                self.stop.wait(until - now)

    def _stream_live(self, source: VideoSource, detector: Detector, began: float) -> SourceError | None:
        """Analyse the newest frames until the source fails (returns why) or the runner stops (None)."""
        pacer = LivePacer(self.src.fps)
        # Only a file can be decoded ahead of time; a camera sends at its own pace already.
        reader = LatestFrameReader(source, realtime=self.src.realtime and source_kind(self.src.url) == "file")
        seen_overwritten = seen_errors = 0
        first = True
        try:
            while not self.stop.is_set():
                self.stop.wait(pacer.wait_s())
                try:
                    frame = reader.take(self.cfg.ingest.read_timeout_s)
                except SourceError as exc:
                    return exc
                finally:
                    self._skip(reader.overwritten - seen_overwritten)
                    self._failed(reader.decode_errors - seen_errors)
                    seen_overwritten, seen_errors = reader.overwritten, reader.decode_errors
                if frame is None:
                    return None
                if first:
                    self.metrics.first_frame.labels(self.src.id).observe(time.monotonic() - began)
                    first = False
                pacer.admit()
                if self._over_backlog():
                    self._drop()  # live sources drop rather than queue
                    continue
                self._process(frame, detector)
            return None
        finally:
            reader.stop()
