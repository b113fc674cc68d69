"""Prometheus metrics of each part, named ``emostream_<part>_<what>_<unit>``.

Each worker builds its metrics on its own ``CollectorRegistry`` (tests get a
fresh one each). Labels are low-cardinality: source, emotion, detector,
outcome, stage, stream, group; never a track, session or event id.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class IngestMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.frames = Counter(
            "emostream_ingest_frames_total",
            "Frames by outcome: analysed, skipped (a live source delivers more than its fps), dropped (backpressure) or failed (decode/detect error).",
            ["source", "outcome"],
            registry=registry,
        )
        self.faces = Counter(
            "emostream_ingest_faces_total",
            "Detected faces by outcome: published for classification or too_small.",
            ["source", "detector", "outcome"],
            registry=registry,
        )
        self.source_up = Gauge("emostream_ingest_source_up", "1 while the source delivers frames.", ["source"], registry=registry)
        self.reconnects = Counter("emostream_ingest_reconnects_total", "Reconnect attempts of live sources.", ["source"], registry=registry)
        self.errors = Counter("emostream_ingest_source_errors_total", "Source failures by kind.", ["source", "kind"], registry=registry)
        self.decode_detect = Histogram(
            "emostream_ingest_decode_detect_seconds",
            "Time to decode, detect and crop one analysed frame.",
            ["source"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.sessions = Counter("emostream_ingest_sessions_total", "Sessions started.", ["source"], registry=registry)
        self.dropped = Counter(
            "emostream_ingest_frames_dropped_total",
            "Frames of live sources dropped by backpressure, by reason: backlog (ingest.backlog_max faces wait) "
            "or age (the oldest waiting face is older than ingest.max_queue_age_ms).",
            ["source", "reason"],
            registry=registry,
        )
        self.queue_age = Gauge(
            "emostream_ingest_queue_age_seconds", "Age of the oldest face not yet delivered to a classifier, as ingest last read it.", registry=registry
        )
        self.first_frame = Histogram(
            "emostream_ingest_first_frame_seconds",
            "Time from starting to open a source to its first decoded frame, per (re)connection.",
            ["source"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.backlog = Gauge("emostream_stream_backlog_entries", "Entries not yet acknowledged by the group.", ["stream", "group"], registry=registry)


class ClassifierMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.batch_size = Histogram("emostream_classifier_batch_size", "Faces per forward pass.", buckets=BATCH_BUCKETS, registry=registry)
        self.inference = Histogram(
            "emostream_classifier_inference_seconds", "Time of one batched forward pass.", buckets=LATENCY_BUCKETS, registry=registry
        )
        self.faces = Counter("emostream_classifier_faces_total", "Faces by outcome: classified, dropped or deadletter.", ["outcome"], registry=registry)
        self.dropped = Counter(
            "emostream_classifier_faces_dropped_total",
            "Live faces dropped instead of classified, by reason: age (older than ingest.max_queue_age_ms since capture).",
            ["source", "reason"],
            registry=registry,
        )
        self.throughput = Gauge(
            "emostream_classifier_throughput_faces_per_second",
            "Faces classified per second by this replica over the last 10 s (rate(emostream_classifier_faces_total) without PromQL).",
            registry=registry,
        )
        self.claimed = Counter("emostream_classifier_claimed_total", "Entries claimed from replicas that stopped answering.", registry=registry)
        self.deadletters = Counter(
            "emostream_classifier_deadletters_total", "Entries sent to the dead-letter stream, by reason.", ["reason"], registry=registry
        )
        self.backlog = Gauge("emostream_stream_backlog_entries", "Entries not yet acknowledged by the group.", ["stream", "group"], registry=registry)


class AggregatorMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.events = Counter("emostream_aggregator_events_total", "Emotion events counted, per source and emotion.", ["source", "emotion"], registry=registry)
        self.duplicates = Counter("emostream_aggregator_duplicate_events_total", "Events seen again and dropped.", ["source"], registry=registry)
        self.share = Gauge(
            "emostream_aggregator_emotion_share_ratio",
            "Share of each emotion among the source's faces over the rolling window.",
            ["source", "emotion"],
            registry=registry,
        )
        self.latency = Histogram(
            "emostream_aggregator_latency_seconds",
            "Latency of events by stage: decode_detect, queue, inference, capture_to_publish, capture_to_aggregate.",
            ["stage"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.sessions_active = Gauge("emostream_aggregator_sessions_active", "Sessions started and not yet summarised.", registry=registry)
        self.sessions_ended = Counter(
            "emostream_aggregator_sessions_ended_total", "Sessions summarised, by end reason.", ["source", "reason"], registry=registry
        )
        self.deadletters = Counter(
            "emostream_aggregator_deadletters_total", "Entries sent to the dead-letter stream, by reason.", ["reason"], registry=registry
        )
        self.claimed = Counter(
            "emostream_aggregator_claimed_total", "Entries claimed from aggregators that stopped answering (XAUTOCLAIM).", registry=registry
        )
        self.track_events = Counter(
            "emostream_aggregator_track_events_total",
            "Track events published, by type: new, update, end.",
            ["source", "type"],
            registry=registry,
        )
        self.tracks_active = Gauge("emostream_aggregator_tracks_active", "Tracks started and not yet ended.", ["source"], registry=registry)
        self.unsmoothed = Counter(
            "emostream_aggregator_unsmoothed_events_total",
            "Events not applied to their track's smoothing: late beyond the reorder hold, redelivered, or for an ended track.",
            ["source"],
            registry=registry,
        )
        self.backlog = Gauge("emostream_stream_backlog_entries", "Entries not yet acknowledged by the group.", ["stream", "group"], registry=registry)
