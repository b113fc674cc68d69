"""The classifier worker: batched inference on face jobs from ``<prefix>:faces``.

Any number of replicas share the consumer group ``classifiers``; each face is
delivered to one of them. A replica works in three overlapping stages
(``overlap``): it takes the next batch (claimed or read, decoded at once;
malformed jobs go to the dead-letter stream) while the model runs on this one
and the previous one is committed: its events published and its jobs
acknowledged (``commit``: one atomic Lua call on a single Redis, a guarded
publish then the acknowledgements on a cluster, ``cluster_commit``), so each
face gives one event. Jobs left pending by a replica that died are
claimed with XAUTOCLAIM after ``claim_idle_ms``; a job delivered
``max_deliveries`` times goes to the dead-letter stream.

Details at :class:`ClassifierWorker`.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable

import numpy as np
import redis
from prometheus_client import CollectorRegistry

from emostream.classifier.batching import collect_batch
from emostream.classifier.cluster_commit import make_commit
from emostream.classifier.commit import Classified, Commit, Dropped
from emostream.classifier.freshness import Freshness
from emostream.classifier.overlap import Overlap
from emostream.classifier.rate import RateMeter
from emostream.classifier.runtime import Runtime, load_runtime
from emostream.classifier.shards import read_order, served_shards
from emostream.classifier.stages import Inferred, Taken
from emostream.config import Config
from emostream.infra.metrics import ClassifierMetrics
from emostream.infra.modelcard import load_card, with_prior_tau
from emostream.infra.worker import Worker
from emostream.streams.eventjson import format_events
from emostream.streams.facejob import decode_batch
from emostream.streams.groups import GroupReader
from emostream.streams.keys import CLASSIFIER_GROUP, Keys
from emostream.streams.reconnect import Reconnector
from emostream.streams.retry import RetryLadder, growing_pause
from emostream.streams.wait import connect_when_up
from emostream.streams.wire import Fields

log = logging.getLogger(__name__)

Delivery = tuple[str, bytes, Fields]  # (faces stream, entry id, fields)


class ClassifierWorker(Worker):
    """The faces queue may be several streams (shards, ``redis.faces_shards``); the
    replica reads them all in turn, a different one first each time, so none is starved.
    """
    role = "classifier"

    def __init__(
        self,
        config: Config,
        registry: CollectorRegistry | None = None,
        http_port: int | None = None,
        consumer: str | None = None,
        runtime: Runtime | None = None,
        face_streams: list[str] | None = None,
    ) -> None:
        super().__init__(config, registry, config.http.classifier_port if http_port is None else http_port)
        cfg = config.classifier
        self.keys = Keys(config.redis.prefix)
        self.metrics = ClassifierMetrics(self.registry)
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"
        self.card = with_prior_tau(load_card(cfg.model or None), cfg.prior_tau)
        self.client = connect_when_up(config.redis, config.redis.startup_wait_s, retries=0)  # Reconnector retries, without repeating writes
        self.reader = GroupReader(
            self.client, CLASSIFIER_GROUP, self.consumer,
            claim_idle_ms=cfg.claim_idle_ms, max_deliveries=cfg.max_deliveries, claim_count=cfg.batch_max,
            deadletter=self.keys.deadletter, keep_pixels=cfg.deadletter_pixels, acked_deleted=True,
            on_dead_letter=self._on_dead_letter, on_claimed=self.metrics.claimed.inc,
        )
        self.face_streams = face_streams or served_shards(self.keys.face_shards(config.redis.faces_shards), cfg.shards)
        for stream in self.face_streams:
            self.reader.follow(stream)
        self._turn = 0
        self.commit: Commit = make_commit(
            self.client, self.keys, CLASSIFIER_GROUP, config.redis.events_maxlen, cfg.claim_idle_ms, cfg.max_deliveries
        )
        self.runtime: Runtime = runtime or load_runtime(self.card, cfg.format, cfg.batch_max, cfg.threads, cfg.mixed_precision)
        self.classified = 0
        self._last_backlog = -1e9
        self.rate = RateMeter()
        self.freshness = Freshness(self.metrics)
        # A poison face cannot wedge the service: it stays pending, and after max_deliveries it is dead-lettered.
        self.stages = {
            name: RetryLadder(f"classifier {name}", Reconnector(f"classifier {name}", self.stop.is_set), self.stop.wait, self.reader.recreate, growing_pause)
            for name in ("take", "model", "commit")
        }

    def health(self) -> dict[str, object]:
        body = super().health()
        body.update(
            model=self.card.label, format=self.runtime.format, device=self.runtime.device, prior_tau=self.runtime.card.prior_tau, classified=self.classified
        )
        return body

    @property
    def dead(self) -> int:
        """Faces sent to the dead-letter stream by this replica."""
        return self.reader.dead

    def _leave_group(self) -> None:
        """A replica that stops cleanly deletes its consumer, so KEDA's scaling does not pile them up."""
        for stream in self.face_streams:
            try:
                left = self.reader.leave(stream)
            except redis.RedisError as exc:
                log.warning("classifier: could not remove consumer %s from the group of %s: %s", self.consumer, stream, exc)
                continue
            if not left:
                log.info("classifier: consumer %s keeps its pending entries of %s for another replica to claim", self.consumer, stream)

    # --- stage 1: take a batch ----------------------------------------------

    def read(self, count: int, block_ms: int | None) -> list[Delivery]:
        """New entries for this consumer, for :meth:`process`; ``block_ms`` None returns at once with what is there."""
        order, each = read_order(self.face_streams, self._turn, count)
        self._turn += 1
        return [(stream, eid, fields) for stream, entries in self.reader.read(each, block_ms, order) for eid, fields in entries]

    def _claim(self) -> list[Delivery]:
        """Entries idle at a dead replica (the reader dead-letters those delivered too often)."""
        return [(stream, eid, fields) for stream, entries in self.reader.claim() for eid, fields in entries]

    def _on_dead_letter(self, kind: str, _reason: str) -> None:
        self.metrics.deadletters.labels(kind).inc()
        self.metrics.faces.labels("deadletter").inc()

    def _decode(self, deliveries: list[Delivery]) -> Taken | None:
        """The batch's valid jobs; each malformed one goes to the dead-letter stream, the others go on."""
        faces = decode_batch([fields for _, _, fields in deliveries], self.card.input_shape)
        for index, reason in faces.refused:
            stream, eid, fields = deliveries[index]
            self.reader.dead_letter(stream, eid, fields, reason, "malformed")
        if not faces.kept:
            return None
        return Taken([deliveries[i][0] for i in faces.kept], [deliveries[i][1] for i in faces.kept], faces.headers, faces.crops)

    def _take(self, ready: Callable[[], bool] | None = None) -> Taken | None:
        """Claimed entries, else a new batch (filled until ``ready()`` or batch_wait_ms), decoded."""
        cfg = self.config.classifier
        deliveries = self._claim() or collect_batch(self.read, cfg.batch_max, cfg.batch_wait_ms, idle_block_ms=250, ready=ready)
        now = time.monotonic()
        if now - self._last_backlog >= 1.0:  # one XLEN per stream per second, not per batch
            self._last_backlog = now
            for stream in self.face_streams:
                self.metrics.backlog.labels(stream, CLASSIFIER_GROUP).set(self.reader.backlog(stream))
            self.freshness.advertise(self.client, self.keys.classifier_stats, self.consumer)
            self.metrics.throughput.set(self.rate.rate())  # falls to 0 when the faces stop
        return self._decode(deliveries) if deliveries else None

    # --- stage 2: the model --------------------------------------------------

    def _infer(self, taken: Taken) -> Inferred:
        """Probabilities for the faces fresh enough to be worth them (see ``freshness``)."""
        fresh_pairs, stale_pairs = self.freshness.before_inference(list(enumerate(taken.headers)), time.time())
        fresh = [i for i, _ in fresh_pairs]
        stale = [i for i, _ in stale_pairs]
        crops = taken.crops if not stale else taken.crops[fresh]
        taken_ts = time.time()
        began = time.perf_counter()
        probabilities = self.runtime.predict(crops) if fresh else np.zeros((0, len(self.card.classes)), np.float32)
        inference_s = time.perf_counter() - began
        if fresh:
            self.freshness.observe(inference_s)
            self.metrics.batch_size.observe(len(fresh))
            self.metrics.inference.observe(inference_s)
        return Inferred(taken, fresh, stale, probabilities, taken_ts, inference_s)

    # --- stage 3: commit -----------------------------------------------------

    def _publish(self, batch: Inferred) -> int:
        """Publish the events and drop notices, acknowledge and delete the jobs; returns the faces classified."""
        taken = batch.taken
        now = time.time()
        stale = list(batch.stale)
        keep, rows = [], []
        for row, index in enumerate(batch.fresh):
            if self.freshness.expired(taken.headers[index], now):  # became too old during inference
                stale.append(index)
            else:
                keep.append(index)
                rows.append(row)
        probabilities = batch.probabilities if len(rows) == len(batch.fresh) else batch.probabilities[rows]
        headers = [taken.headers[i] for i in keep]
        events = format_events(
            headers, probabilities, self.card.name, self.card.version, batch.taken_ts, batch.inference_s * 1000.0, now
        )
        classified = [
            Classified(taken.streams[i], taken.ids[i], h.source, h.event_id, event) for i, h, event in zip(keep, headers, events, strict=True)
        ]
        dropped = [Dropped(taken.streams[i], taken.ids[i], taken.headers[i].source, taken.headers[i].session, taken.headers[i].event_id) for i in stale]
        done = self.commit(classified, dropped)
        self.freshness.count([(i, taken.headers[i]) for i in stale])
        self.classified += done.classified
        self.metrics.faces.labels("classified").inc(done.classified)
        self.rate.add(done.classified)
        self.metrics.throughput.set(self.rate.rate())
        return done.classified

    def process(self, deliveries: list[Delivery]) -> int:
        """Decode, classify, publish and acknowledge one batch in turn; returns the faces classified."""
        taken = self._decode(deliveries)
        return self._publish(self._infer(taken)) if taken else 0

    def step(self) -> None:
        """One batch (claimed, else read) through the three stages in turn, each under its retry ladder (``serve`` overlaps them)."""
        taken = self.stages["take"].run(self._take)
        inferred = taken and self.stages["model"].run(lambda: self._infer(taken))
        if inferred:
            self.stages["commit"].run(lambda: self._publish(inferred))

    def serve(self) -> None:
        log.info(
            "classifier %s: model %s (%s on %s, %d threads), batch_max %d, batch_wait_ms %.0f, reading %s",
            self.consumer, self.card.label, self.runtime.format, self.runtime.device, self.runtime.threads,
            self.config.classifier.batch_max, self.config.classifier.batch_wait_ms, ", ".join(self.face_streams),
        )
        stages: Overlap[Taken, Inferred] = Overlap(
            lambda: self.stages["take"].run(lambda: self._take(ready=stages.model_waiting)),
            lambda taken: self.stages["model"].run(lambda: self._infer(taken)),
            lambda inferred: self.stages["commit"].run(lambda: self._publish(inferred)),
            self.stop,
        )
        try:
            stages.run()
        finally:
            self.runtime.close()
            self._leave_group()
        log.info("classifier stopped ◆ %d faces classified ◆ %d dead-lettered", self.classified, self.dead)
