"""One analysed frame: detect, keep the big faces, track, crop, publish them with the checkpoint.

The frame's pixels are made here, in the detector's own colour, and only for
frames that pacing and backpressure let through (see ``sources.Frame``).
Detection (:meth:`FrameAnalyser.detect`) touches no session state, so a file's
decode thread runs it ahead of the rest (see ``ingest.ahead``); everything
after it runs on the source's thread, in frame order.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, replace

import numpy as np

from emostream.config import SourceConfig
from emostream.detector import Detection, Detector, make_check
from emostream.detector.crop import crop_detection
from emostream.ingest.change import ChangeWatch
from emostream.ingest.frame import Frame
from emostream.ingest.runner_parts import Preview, RunnerParts
from emostream.ingest.session_keeper import SessionKeeper
from emostream.ingest.tracking import carry
from emostream.ingest.tracking.detections import confident_from, track_faces
from emostream.ingest.tracking.track import Tally
from emostream.ingest.tracking.tracker import Tracker
from emostream.streams.facejob import FaceJob

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Detected:
    """A frame's pixels in the detector's colour and its faces; ``image`` None when detection failed (logged)."""

    image: np.ndarray | None
    detections: list[Detection]
    seconds: float  # converting and detecting
    due: bool = True  # False: a frame between detection frames (``detector.interval``): tracks are carried to it
    pending: Future[list[Detection]] | None = None  # the faces, still being detected on a pool thread (``ingest.detect_threads``)
    submitted: float = 0.0  # perf_counter when handed to the pool


class FrameAnalyser:
    def __init__(self, src: SourceConfig, parts: RunnerParts, keeper: SessionKeeper, detector: Detector) -> None:
        self.src, self.parts, self.keeper, self.detector = src, parts, keeper, detector
        self.live = src.is_live
        # Live faces carry the freshness bound, so a classifier that reaches them too late drops them (files: 0, never).
        self.max_age_ms = parts.config.ingest.max_queue_age_ms if self.live else 0.0
        self.preview: Preview | None = parts.preview(src.id)
        self.confident_from = confident_from(parts.config.detector)  # below: low-score boxes, for the tracker's second pass
        self.check = make_check(parts.config.detector)  # a second look at each new track's face, in this source's thread
        self.interval = parts.config.detector.interval
        self._counted = 0  # analysed frames handed to detect (counted by whichever thread detects)
        self._detected_at = -self.interval  # the count of the last detection frame of the count (written by that thread alone)
        self.watch = ChangeWatch() if self.interval > 1 and parts.config.detector.on_change else None
        self.on_lost = self.interval > 1 and parts.config.detector.on_lost
        self._detecting = threading.Lock()  # a frame detected for a lost face runs on the source's thread, beside the decode thread's
        self.followed: list[tuple[int, int, int, int]] = []  # boxes published on the last analysed frame (for the watch)
        metrics = parts.metrics
        self._decode_detect = metrics.decode_detect.labels(src.id)
        self._published = metrics.faces.labels(src.id, detector.name, "published")
        self._too_small = metrics.faces.labels(src.id, detector.name, "too_small")
        self._unconfirmed = metrics.faces.labels(src.id, detector.name, "unconfirmed")
        self._tracks = {outcome: metrics.tracks.labels(src.id, outcome) for outcome in ("confirmed", "unconfirmed")}
        self._checks = {outcome: metrics.checks.labels(src.id, outcome) for outcome in ("passed", "failed")}

    def detect(self, frame: Frame, force: bool = False, submit: Callable[[np.ndarray], Future[list[Detection]]] | None = None) -> Detected:
        """The frame's pixels and faces, ``detector.interval`` frames after the last detection (``force``: this one, uncounted).

        Safe on another thread (it reads and writes no session state); called
        in frame order by one thread per source, which alone keeps the count.
        A frame the source's thread detects because a track was lost is outside
        the count: the schedule of a file's detection frames depends on its
        frames alone, never on how far a decode thread had got (the same file
        gives the same faces, however it is run). ``submit``: hand a due frame's
        model pass to it (the worker's :class:`~emostream.ingest.detectpool.DetectPool`)
        and return at once, the faces ``pending``.
        """
        stages = self.parts.stages
        began = time.perf_counter()
        number = self._counted
        due = force or number - self._detected_at >= self.interval
        if not force:
            self._counted += 1
        try:
            image = frame.pixels(self.detector.colour)
            stages.lap("convert")
            if self.watch is not None and not force and self.watch.changed(image, self.followed):
                due = True  # something new: detect now, and the next in ``interval`` frames
            if not due:
                return Detected(image, [], time.perf_counter() - began, due=False)
            if not force:
                self._detected_at = number
            if submit is not None:
                return Detected(image, [], time.perf_counter() - began, pending=submit(image), submitted=time.perf_counter())
            with self._detecting:  # detectors keep buffers and interpreters that one call at a time may use
                detections = self.detector.detect_native(image)
            stages.lap("detect")
        except Exception:
            log.exception("source %s: detection failed on frame %d", self.src.id, frame.index)
            return Detected(None, [], time.perf_counter() - began)
        return Detected(image, detections, time.perf_counter() - began)

    def _settle(self, frame: Frame, detected: Detected) -> Detected:
        """The pool's faces of a frame detected ahead, waited for on the source's thread (a failure is logged, as :meth:`detect` does)."""
        assert detected.pending is not None
        try:
            detections = detected.pending.result()
        except Exception:
            log.exception("source %s: detection failed on frame %d", self.src.id, frame.index)
            return Detected(None, [], detected.seconds)
        finally:
            self.parts.stages.lap("wait")  # for the pool's thread, whose own clock charges the detection
        return replace(detected, detections=detections, pending=None, seconds=detected.seconds + time.perf_counter() - detected.submitted)

    def analyse(self, frame: Frame, detected: Detected | None = None) -> None:
        """Track, crop and publish the frame's faces; ``detected``: what :meth:`detect` found ahead (None: detect now)."""
        stages = self.parts.stages  # a no-op unless the benchmark profiles (see ingest.stages)
        stages.lap("admit")  # pacing and the backpressure decision since the frame was decoded
        keeper = self.keeper
        session = keeper.current()
        det_cfg, card, colour = self.parts.config.detector, self.parts.card, self.detector.colour
        if detected is None:
            detected = self.detect(frame)
        elif detected.pending is not None:
            detected = self._settle(frame, detected)
        if not detected.due and session.analysed == 0:  # a session starts with no tracks to carry: detect its first frame
            detected = self.detect(frame, force=True)
        began = time.perf_counter()
        image = detected.image
        if image is None:
            keeper.failed()
            return
        offset, interval = session.clock(frame.pts, frame.captured_ts, self.live)
        stages.mark()
        tracked, detections = self._track(session.tracker, frame, detected, offset)
        too_small = sum(1 for d in detections if min(d.w, d.h) < det_cfg.min_face_px)
        self.followed = [det.box for det, _ in tracked]
        stages.lap("track")
        crops = [crop_detection(image, det, card, det_cfg, colour) for det, _ in tracked]
        stages.lap("crop")
        decode_detect_ms = (frame.decode_s + detected.seconds + time.perf_counter() - began) * 1000.0
        height, width = image.shape[:2]
        seq = session.seq
        jobs = [
            FaceJob(
                source=self.src.id, session=session.id, seq=seq, pts=frame.pts, offset=offset, interval=interval,
                captured_ts=frame.captured_ts, width=width, height=height, track=track, box=det.box,
                detector=self.detector.name, score=det.score, decode_detect_ms=decode_detect_ms, crop=crop,
                max_age_ms=self.max_age_ms,
            )
            for (det, track), crop in zip(tracked, crops, strict=True)
        ]
        session.seq += 1
        session.analysed += 1
        session.faces += len(jobs)
        session.faces_skipped += too_small
        tally = session.tracker.tally
        session.faces_unconfirmed += tally.unconfirmed_faces
        self.parts.publisher.frame(self.src.id, session.id, frame.index, jobs, keeper.snapshot(frame.index))
        self.parts.probe.queued(len(jobs))
        preview = self.preview
        if preview is not None and preview.due():
            boxes, track_ids = [d.box for d, _ in tracked], [t for _, t in tracked]
            self.parts.publisher.side(lambda: preview.publish(frame.pixels("bgr"), session.id, seq, boxes, track_ids))
        keeper.analysed()
        self._decode_detect.observe(decode_detect_ms / 1000.0)
        if jobs:
            self._published.inc(len(jobs))
        if too_small:
            self._too_small.inc(too_small)
        self._count_tracks(tally)
        stages.frame_done()

    def _track(self, tracker: Tracker, frame: Frame, detected: Detected, offset: float) -> tuple[list[tuple[Detection, int]], list[Detection]]:
        """(detection, track id) of the frame's faces to publish, detected or carried; and the frame's detections (carried: none).

        Between detection frames the tracks are followed first without being
        touched (``carry.follow``); where one published on the frame before is
        lost and ``detector.on_lost`` is on, the frame is detected after all and
        tracked exactly as a due detection frame would be.
        """
        image, colour, match = detected.image, self.detector.colour, self.parts.config.detector.carry_match
        assert image is not None
        if not detected.due:
            followed = carry.follow(tracker, image, offset, colour, match)
            again = self._redetect(frame) if followed.lost and self.on_lost else None
            if again is None:
                return carry.apply(tracker, followed, offset), []
            detected = again
        big = [d for d in detected.detections if min(d.w, d.h) >= self.parts.config.detector.min_face_px]
        tracked = track_faces(tracker, image, big, self.confident_from, offset, colour, self.check)
        if self.interval > 1:
            filled = carry.fill(tracker, image, offset, colour, match, detected.detections, tracked)
            tracked += filled
            carry.remember(tracker, image, tracked, colour, frozenset(t for _, t in filled))
        return tracked, detected.detections

    def _redetect(self, frame: Frame) -> Detected | None:
        """The frame detected because a track could not be carried to it, outside the interval's count (None: detection failed)."""
        self.parts.stages.lap("track")  # following the tracks, before the detector's own lap
        again = self.detect(frame, force=True)
        return None if again.image is None else again

    def _count_tracks(self, tally: Tally) -> None:
        """Faces kept back, tracks decided and faces checked this frame (tentative tracks still open at the end: ``SessionKeeper.end``)."""
        if tally.unconfirmed_faces:
            self._unconfirmed.inc(tally.unconfirmed_faces)
        if tally.confirmed:
            self._tracks["confirmed"].inc(tally.confirmed)
        if tally.unconfirmed:
            self._tracks["unconfirmed"].inc(tally.unconfirmed)
        if tally.checked:
            self._checks["passed"].inc(tally.checked - tally.rejected)
            self._checks["failed"].inc(tally.rejected)
