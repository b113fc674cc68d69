"""The ingest worker: one :class:`~emostream.ingest.runner.SourceRunner` thread per source.

A source that fails never takes the others down: each runs in its own
thread, every error is logged with the source's redacted name and counted.
Sources can be added and removed while it runs (see :mod:`emostream.ingest.control`);
only the source that changed is started or stopped.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable

import redis
from prometheus_client import CollectorRegistry

from emostream.config import Config, SourceConfig
from emostream.detector import Detector, make_detector, min_score
from emostream.detector.batching import BatchingDetector
from emostream.infra.cpufeatures import usable_cores
from emostream.infra.faults import fault_log
from emostream.infra.metrics import FrameOutcome, IngestMetrics
from emostream.infra.modelcard import ModelCard, load_card
from emostream.infra.worker import Worker
from emostream.ingest import control
from emostream.ingest.detectpool import DetectPool
from emostream.ingest.errors import KINDS
from emostream.ingest.probe import RedisQueueProbe
from emostream.ingest.publisher import IngestPublisher
from emostream.ingest.runner import SourceRunner
from emostream.ingest.runner_parts import Preview, RunnerParts, open_video
from emostream.ingest.stages import OFF, StageClock
from emostream.ingest.tracking.detections import detector_config
from emostream.ingest.writebehind import WriteBehind
from emostream.streams.group_commands import ensure_group
from emostream.streams.keys import CLASSIFIER_GROUP, Keys
from emostream.streams.reconnect import Reconnector
from emostream.streams.wait import connect_when_up

log = logging.getLogger(__name__)

STOP_JOIN_S = 10.0  # how long shutdown waits for each source thread


def one_opencv_thread() -> None:
    """OpenCV calls (the detector's view, crops, the tracker's descriptor) run on the calling thread alone.

    OpenCV splits each call over a pool of its own threads, which spin a while
    before sleeping: worth it for one large image, waste for the small ones ingest
    hands it, many times a frame, from a thread per source that already keeps
    the cores busy. Measured (4 sources, 640x480, short range, 3 runs each in
    alternation, 1-min load 14): 6.93 ms of CPU per analysed frame with the pool,
    6.53 without; the process's CPU outside ingest's own stages fell from 1.30
    to 1.03 ms a frame. Process-wide, and ingest processes run nothing else.
    """
    import cv2

    cv2.setNumThreads(1)


class IngestWorker(Worker):
    role = "ingest"

    def __init__(
        self,
        config: Config,
        sources: list[SourceConfig] | None = None,
        registry: CollectorRegistry | None = None,
        http_port: int | None = None,
        stages: StageClock = OFF,
        share: tuple[int, int] | None = None,
        ended_since: float | None = None,
    ) -> None:
        """``share`` (index, count): this worker is one of an ingest role's children and runs only its share of the sources;
        ``ended_since``: such a child started again, whose files ended since then stay ended (``RunnerParts.ended_since``)."""
        super().__init__(config, registry, config.http.ingest_port if http_port is None else http_port)
        one_opencv_thread()
        self.sources = sources if sources is not None else list(config.sources)
        if not self.sources and not config.ingest.control:
            raise ValueError("no sources configured: add sources to the configuration or pass --source")
        self.group = control.worker_name(config.ingest)  # whose run-time changes it reads
        self.share = share
        self.name = self.group if share is None else f"{self.group}.{share[0]}"
        self.keys = Keys(config.redis.prefix)
        self.metrics = IngestMetrics(self.registry)
        self.card: ModelCard = load_card(config.classifier.model or None)
        self.client = connect_when_up(config.redis, config.redis.startup_wait_s, retries=0)  # Reconnector retries, without repeating writes
        shards = config.redis.faces_shards
        for shard in self.keys.face_shards(shards):
            ensure_group(self.client, shard, CLASSIFIER_GROUP)
        self.reconnector = Reconnector("ingest", self.stop.is_set)
        self._lock = threading.Lock()
        self.shared_detector: BatchingDetector | None = None
        self.detect_pool: DetectPool | None = None  # built by the first file source that asks (_detect_pool)
        self._pool_lock = threading.Lock()
        self.stages = stages
        publisher = IngestPublisher(self.client, self.keys, self.reconnector, config.redis.faces_maxlen, shards, stages)
        behind = config.ingest.publish_behind
        self.writer = WriteBehind(publisher, behind, stages) if behind else None
        self.parts = RunnerParts(
            config=config,
            card=self.card,
            publisher=self.writer or publisher,
            probe=RedisQueueProbe(self.client, self.keys, self.metrics, shards=shards),
            metrics=self.metrics,
            make_detector=self._detector_factory(),
            open_source=functools.partial(open_video, config=config),
            preview=self._preview,
            stages=stages,
            decode_ahead=config.ingest.decode_ahead,
            detect_pool=self._detect_pool,
            ended_since=ended_since,
        )
        self.runners: dict[str, SourceRunner] = {}
        self._revisions: dict[str, str] = {}
        self._retiring: list[SourceRunner] = []
        self._invalid = fault_log("ingest_runtime_source", log)
        self._polled = False  # whether the run-time changes were read (or given up on) once

    def _detect_pool(self) -> DetectPool | None:
        """The threads that detect the files' frames side by side (``ingest.detect_threads``), or None: each decode thread detects.

        Built by the first file source that asks, on its thread (a worker of cameras alone holds no idle detectors),
        so a detector that cannot be built fails that source as its own would. By default one thread per usable core
        this process may count as its own: a role of ``ingest.processes`` children divides the cores among them.
        """
        ing = self.config.ingest
        threads = ing.detect_threads or max(1, usable_cores() // (self.share[1] if self.share else 1))
        if threads <= 1 or not ing.decode_ahead:
            return None
        with self._pool_lock:  # not self._lock: a shared batching detector's handles take that one while the pool is built
            if self.detect_pool is None:
                self.detect_pool = DetectPool(self._detector_factory(), threads, self.stages)
            return self.detect_pool

    def _detector_factory(self) -> Callable[[], Detector]:
        """Each source's detector: its own, or a handle on one shared by all (``ingest.detect_batch`` > 1, LiteRT BlazeFace).

        The shared one is built by the first source that asks, on its thread, so
        a detector that cannot be built fails the sources as it always did.
        """
        cfg = detector_config(self.config.detector, self.config.tracker)
        batch = self.config.ingest.detect_batch
        if batch <= 1 or cfg.backend != "blazeface":
            return functools.partial(make_detector, cfg)

        def handle() -> Detector:
            with self._lock:
                if self.shared_detector is None:
                    from emostream.detector.litert import LiteRTBlazeFace

                    self.shared_detector = BatchingDetector(LiteRTBlazeFace(cfg.range, min_score(cfg), cfg.tile_px), batch)
                return self.shared_detector.handle()

        return handle

    def health(self) -> dict[str, object]:
        body = super().health()
        with self._lock:
            body["sources"] = {sid: r.state.value for sid, r in self.runners.items()}
        return body

    def _preview(self, source: str) -> Preview | None:
        """Frames for the live web page, only when it is enabled (see docs/viewer.md)."""
        web = self.config.web
        if not web.enabled:
            return None
        from emostream.ingest.preview import PreviewPublisher

        return PreviewPublisher(self.client, self.keys, source, web.preview_fps, web.preview_width, web.blur_faces)

    # --- starting and stopping sources ---------------------------------------

    def _start_runner(self, wanted: control.Wanted) -> None:
        self.metrics.init_source(wanted.source.id, self.config.detector.backend, tuple(KINDS))
        runner = SourceRunner(wanted.source, self.parts, wanted.origin)
        with self._lock:
            self.runners[wanted.source.id] = runner
            self._revisions[wanted.source.id] = wanted.revision
        runner.start()
        log.info("ingest: source %s started (%s, %s)", wanted.source.id, runner.name, wanted.origin)

    def _retire(self, source_id: str) -> None:
        with self._lock:
            runner = self.runners.pop(source_id)
            self._revisions.pop(source_id, None)
        runner.stop.set()
        self._retiring.append(runner)
        log.info("ingest: source %s removed", source_id)

    def apply(self, wanted: dict[str, control.Wanted]) -> None:
        """Start, stop or restart only the sources whose wanted entry differs from what runs."""
        for done in [r for r in self._retiring if not r.thread.is_alive()]:
            if done.src.id not in wanted and done.src.id not in self.runners:  # removed, not replaced: forget its series
                self.metrics.remove_source(done.src.id)
        self._retiring = [r for r in self._retiring if r.thread.is_alive()]
        busy = {r.src.id for r in self._retiring}
        for source_id in list(self.runners):
            entry = wanted.get(source_id)
            if entry is None or entry.revision != self._revisions.get(source_id) or entry.source != self.runners[source_id].src:
                self._retire(source_id)
                busy.add(source_id)
        for source_id, entry in wanted.items():
            # A source being stopped finishes (and ends its session) before its replacement starts.
            if source_id not in self.runners and source_id not in busy:
                self._start_runner(entry)

    def _poll_control(self) -> None:
        try:
            overrides = control.read_overrides(self.client, self.keys, self.group)
        except redis.RedisError as exc:
            if not self._polled:  # Redis is not answering yet: run the configured sources meanwhile
                log.warning("ingest: cannot read run-time source changes (%s); starting the configured sources", exc)
                self.apply(self._wanted(None))
                self._polled = True
            else:
                log.debug("ingest: cannot read run-time source changes: %s", exc)
            return
        self._polled = True
        for source_id, why in overrides.invalid.items():
            self._invalid.report(source_id, why, "ingest: ignoring the run-time entry for source %s: %s", source_id, why, level=logging.ERROR)
        self.apply(self._wanted(overrides))

    def _wanted(self, overrides: control.Overrides | None) -> dict[str, control.Wanted]:
        wanted = control.wanted_sources(self.sources, overrides)
        if self.share is None:
            return wanted
        index, count = self.share
        configured = [s.id for s in self.sources]
        return {sid: w for sid, w in wanted.items() if control.owner(sid, configured, count) == index}

    def _publish_state(self) -> None:
        with self._lock:
            states = [r.describe() for r in self.runners.values()]
        try:
            control.publish_state(self.client, self.keys, self.name, states, None if self.share is None else self.group)
        except redis.RedisError as exc:
            log.debug("ingest: cannot publish state: %s", exc)

    # --- the loop -------------------------------------------------------------

    def serve(self) -> None:
        cfg = self.config.ingest
        if cfg.control:
            self._poll_control()
        else:
            self.apply(self._wanted(None))
        log.info(
            "ingest %s: %d source(s): %s%s", self.name, len(self.runners),
            ", ".join(f"{sid}={r.name}" for sid, r in self.runners.items()) or "none yet",
            f"; run-time changes via {self.keys.ingest_sources(self.group)}" if cfg.control else "",
        )
        next_poll = next_beat = 0.0
        while not self.stop.is_set():
            now = time.monotonic()
            if cfg.control and now >= next_poll:
                self._poll_control()
                next_poll = now + control.POLL_S
            if now >= next_beat:
                self._publish_state()
                next_beat = now + control.HEARTBEAT_S
            with self._lock:
                runners = list(self.runners.values())
            if cfg.exit_at_end and runners and not any(r.thread.is_alive() for r in runners):
                break
            self.stop.wait(0.1)
        self.stop.set()
        self._shutdown()

    def _shutdown(self) -> None:
        with self._lock:
            runners = list(self.runners.values()) + self._retiring
        for runner in runners:
            runner.stop.set()
        deadline = time.monotonic() + STOP_JOIN_S
        for runner in runners:
            runner.thread.join(max(0.0, deadline - time.monotonic()))
        if self.detect_pool is not None:
            self.detect_pool.close()
        if self.shared_detector is not None:
            self.shared_detector.close()
        if self.writer is not None and not self.writer.close(max(0.0, deadline - time.monotonic())):
            log.warning("ingest: frames still being written at shutdown (Redis away?); their sources resume from the last checkpoint")
        with contextlib.suppress(redis.RedisError):
            control.clear_state(self.client, self.keys, self.name)
        frames = sum(self.registry.get_sample_value("emostream_ingest_frames_total", {"source": r.src.id, "outcome": FrameOutcome.ANALYSED}) or 0
                     for r in runners)
        log.info("ingest stopped ◆ %d source(s) ◆ %d frames analysed", len(runners), frames)
