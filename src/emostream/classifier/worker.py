"""The classifier worker: batched inference on face jobs from ``<prefix>:faces``.

Any number of replicas share the consumer group ``classifiers``; each face is
delivered to one of them. For every batch: decode the jobs (malformed ones go to
the dead-letter stream), run one forward pass, then publish one event per face
and acknowledge the jobs through the outbox (``streams/outbox.py``): one
MULTI/EXEC on a single Redis, a guarded publish then the acks on a cluster,
so each face gives one event. With ``redis.faces_shards`` > 1 every replica
reads every shard. Jobs left pending by a replica that died
are claimed with XAUTOCLAIM after ``claim_idle_ms``; a job delivered
``max_deliveries`` times goes to the dead-letter stream.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np
import redis
from prometheus_client import CollectorRegistry

from emostream.classifier.batching import collect_batch
from emostream.classifier.freshness import Freshness
from emostream.classifier.runtime import Runtime, load_runtime
from emostream.config import Config
from emostream.metrics import ClassifierMetrics
from emostream.modelcard import load_card
from emostream.redis_io import Reconnector
from emostream.redis_wait import connect_when_up
from emostream.streams.events import build_event, encode_event
from emostream.streams.facejob import FaceJob
from emostream.streams.groups import Entry, GroupReader, is_nogroup
from emostream.streams.keys import CLASSIFIER_GROUP, Keys
from emostream.streams.outbox import Publication, make_outbox
from emostream.streams.wire import MessageError
from emostream.worker import Worker

log = logging.getLogger(__name__)


class RateMeter:
    """Events per second over a sliding window, for the throughput gauge.

    A gauge of our own rather than only ``rate()`` of the counter: a dashboard
    without PromQL (or ``/metrics`` read by eye) still shows faces/s.
    """

    def __init__(self, window_s: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s = window_s
        self.clock = clock
        self._marks: deque[tuple[float, int]] = deque()
        self._started = clock()

    def add(self, count: int) -> None:
        self._marks.append((self.clock(), count))

    def rate(self) -> float:
        now = self.clock()
        while self._marks and self._marks[0][0] < now - self.window_s:
            self._marks.popleft()
        span = min(self.window_s, max(now - self._started, 1e-3))
        return sum(n for _, n in self._marks) / span


class ClassifierWorker(Worker):
    role = "classifier"

    def __init__(
        self, config: Config, registry: CollectorRegistry | None = None, http_port: int | None = None, consumer: str | None = None
    ) -> None:
        super().__init__(config, registry, config.http.classifier_port if http_port is None else http_port)
        cfg = config.classifier
        self.keys = Keys(config.redis.prefix)
        self.metrics = ClassifierMetrics(self.registry)
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"
        self.card = load_card(cfg.model or None)
        self.client = connect_when_up(config.redis, config.redis.startup_wait_s, retries=0)  # Reconnector retries, without repeating writes
        self.reader = GroupReader(
            self.client, CLASSIFIER_GROUP, self.consumer,
            claim_idle_ms=cfg.claim_idle_ms, max_deliveries=cfg.max_deliveries, claim_count=cfg.batch_max,
            deadletter=self.keys.deadletter, keep_pixels=cfg.deadletter_pixels, acked_deleted=True,
            on_dead_letter=self._on_dead_letter, on_claimed=self.metrics.claimed.inc,
        )
        self.shards = self.keys.face_shards(config.redis.faces_shards)
        for shard in self.shards:
            self.reader.follow(shard)
        self.outbox = make_outbox(
            self.client, self.keys, CLASSIFIER_GROUP, config.redis.events_maxlen, cfg.claim_idle_ms, cfg.max_deliveries
        )
        self.reconnector = Reconnector("classifier", self.stop.is_set)
        self.runtime: Runtime = load_runtime(self.card, cfg.format, cfg.batch_max, cfg.threads, cfg.mixed_precision)
        self.classified = 0
        self._last_backlog = -1e9
        self.rate = RateMeter()
        self.freshness = Freshness(self.metrics)

    def health(self) -> dict[str, object]:
        body = super().health()
        body.update(model=self.card.label, format=self.runtime.format, device=self.runtime.device, classified=self.classified)
        return body

    @property
    def dead(self) -> int:
        """Faces sent to the dead-letter stream by this replica."""
        return self.reader.dead

    def _leave_group(self) -> None:
        """A replica that stops cleanly deletes its consumer, so KEDA's scaling does not pile them up."""
        try:
            left = all([self.reader.leave(shard) for shard in self.shards])
        except redis.RedisError as exc:
            log.warning("classifier: could not remove consumer %s from the group: %s", self.consumer, exc)
            return
        if not left:
            log.info("classifier: consumer %s keeps its pending entries for another replica to claim", self.consumer)

    # --- reading ----------------------------------------------------------

    def _read(self, count: int, block_ms: int | None) -> list[tuple[str, Entry]]:
        """New entries for this consumer, each with its shard; ``block_ms`` None returns at once with what is there."""
        return [(stream, entry) for stream, entries in self.reader.read(count, block_ms) for entry in entries]

    def _claim(self) -> list[tuple[str, Entry]]:
        """Entries idle at a dead replica (the reader dead-letters those delivered too often)."""
        return [(stream, entry) for stream, entries in self.reader.claim() for entry in entries]

    def _on_dead_letter(self, kind: str, _reason: str) -> None:
        self.metrics.deadletters.labels(kind).inc()
        self.metrics.faces.labels("deadletter").inc()

    def _decode(self, entries: list[tuple[str, Entry]]) -> list[tuple[bytes, FaceJob]]:
        jobs = []
        for stream, (eid, fields) in entries:
            try:
                job = FaceJob.decode(fields)
                if job.crop.shape != self.card.input_shape:
                    raise MessageError(f"crop shape {job.crop.shape} does not match the model input {self.card.input_shape}")
            except MessageError as exc:
                self.reader.dead_letter(stream, eid, fields, str(exc), "malformed")
                continue
            jobs.append((eid, job))
        return jobs

    def process(self, entries: list[tuple[str, Entry]]) -> int:
        """Classify, publish and acknowledge one batch; returns the faces classified.

        Live faces too old to be worth an event are dropped instead (see ``freshness``).
        """
        decoded = self._decode(entries)
        if not decoded:
            return 0
        jobs, stale = self.freshness.before_inference(decoded, time.time())
        taken = time.time()
        began = time.perf_counter()
        probabilities: Any = self.runtime.predict(np.stack([job.crop for _, job in jobs])) if jobs else []
        inference_s = time.perf_counter() - began
        if jobs:
            self.freshness.observe(inference_s)
            self.metrics.batch_size.observe(len(jobs))
            self.metrics.inference.observe(inference_s)
        now = time.time()
        events: list[Publication] = []
        classified = 0
        for (eid, job), probs in zip(jobs, probabilities, strict=True):
            if self.freshness.expired(job, now):  # became too old during inference
                stale.append((eid, job))
                continue
            queue_ms = max(0.0, (taken - job.captured_ts) * 1000.0 - job.decode_detect_ms)
            event = build_event(job, probs, self.card.name, self.card.version, queue_ms, inference_s * 1000.0, now)
            events.append(Publication(self.keys.events(job.source), job.event_id, encode_event(event)))
            classified += 1
        done: dict[str, list[bytes]] = {}
        for stream, (eid, _) in entries:  # the dead-lettered ones too: acknowledging them again is a no-op
            done.setdefault(stream, []).append(eid)
        self.outbox.commit(events, self.freshness.notes(stale), done)
        self.freshness.count(stale)
        self.classified += classified
        self.metrics.faces.labels("classified").inc(classified)
        self.rate.add(classified)
        return classified

    def _step(self) -> None:
        cfg = self.config.classifier
        entries = self._claim() or collect_batch(self._read, cfg.batch_max, cfg.batch_wait_ms, idle_block_ms=250)
        if entries:
            self.process(entries)
        self.metrics.throughput.set(self.rate.rate())
        now = time.monotonic()
        if now - self._last_backlog >= 1.0:  # one XINFO per second, not per batch
            self._last_backlog = now
            for shard in self.shards:
                self.metrics.backlog.labels(shard, CLASSIFIER_GROUP).set(self.reader.backlog(shard))
            self.freshness.advertise(self.client, self.keys.classifier_stats, self.consumer)

    def serve(self) -> None:
        log.info(
            "classifier %s: model %s (%s on %s, %d threads), batch_max %d, batch_wait_ms %.0f",
            self.consumer, self.card.label, self.runtime.format, self.runtime.device, self.runtime.threads,
            self.config.classifier.batch_max, self.config.classifier.batch_wait_ms,
        )
        failures = 0
        while not self.stop.is_set():
            try:
                self.reconnector.call(self._step)
                failures = 0
            except redis.ResponseError as exc:
                if is_nogroup(exc):  # Redis restarted empty, noticed by a write: recreate the group
                    self.reader.recreate()
                else:
                    log.exception("classifier: Redis command failed")
                    self.stop.wait(0.5)
            except redis.RedisError:
                log.exception("classifier: Redis command failed")
                self.stop.wait(0.5)
            except Exception:
                # A batch that fails stays pending; it is retried after claim_idle_ms and
                # dead-lettered after max_deliveries, so a poison face cannot wedge the service.
                failures += 1
                log.exception("classifier: batch failed (%d in a row)", failures)
                self.stop.wait(min(5.0, 0.1 * 2**failures))
        self.runtime.close()
        self._leave_group()
        log.info("classifier stopped ◆ %d faces classified ◆ %d dead-lettered", self.classified, self.dead)
