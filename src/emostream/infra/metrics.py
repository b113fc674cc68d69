"""Prometheus metrics of each part, named ``emostream_<part>_<what>_<unit>``.

Each worker builds its metrics on its own ``CollectorRegistry`` (tests get a
fresh one each). Labels are low-cardinality: source, emotion, detector,
outcome, stage, stream, group; never a track, session or event id.

A labelled series does not exist until it is first touched, and ``increase()``
cannot see the first event of a series that appears with the value 1: an alert
on the first dead letter, or on a camera that has never shown a face, would
never fire, and panels would show "No data" instead of 0. So every label value
that is known in advance (each outcome, reason and kind, each source once it is
started) is created at 0 by the ``init_*`` methods. The trade-off is a fixed
number of zero series per source, which is what dashboards want anyway.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from enum import StrEnum

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from emostream.infra import faults
from emostream.infra.emotions import EMOTIONS


class FrameOutcome(StrEnum):
    """What became of a frame ingest decoded (``emostream_ingest_frames_total{outcome}``)."""

    ANALYSED = "analysed"
    SKIPPED = "skipped"  # a live source delivered more than its fps
    DROPPED = "dropped"  # backpressure, for one of the DropReasons
    FAILED = "failed"  # decode or detect error


class DropReason(StrEnum):
    """Why ingest dropped a live frame (``emostream_ingest_frames_dropped_total{reason}``)."""

    BACKLOG = "backlog"  # ingest.backlog_max faces wait
    AGE = "age"  # a face queued now would wait too long to meet ingest.max_queue_age_ms


# Label values known in advance, created at 0 (see the module docstring).
FRAME_OUTCOMES = tuple(outcome.value for outcome in FrameOutcome)
FACE_OUTCOMES = ("published", "too_small", "unconfirmed")
TRACK_OUTCOMES = ("confirmed", "unconfirmed")
CHECK_OUTCOMES = ("passed", "failed")
DROP_REASONS = tuple(reason.value for reason in DropReason)
CLASSIFIER_OUTCOMES = ("classified", "dropped", "deadletter")
DEADLETTER_REASONS = ("malformed", "max_deliveries")
FINISH_PARTS = ("summary", "summary_file", "chart")  # the parts of finishing a session that can fail on their own
DISK_CAUSES = ("no_space", "read_only", "permission", "not_a_directory", "io", "other")
SESSION_END_REASONS = ("eof", "stopped", "error", "timeout", "max_duration")
TRACK_EVENT_TYPES = ("new", "update", "end")


def _no_created_series() -> None:
    """prometheus_client's switch is process-wide; every metrics class sets it before creating its counters.

    ``_created`` series are switched off: they double the number of counter series
    and no panel or rule reads them.
    """
    disable_created_metrics()  # type: ignore[no-untyped-call]

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


def stream_backlog(registry: CollectorRegistry) -> Gauge:
    """``emostream_stream_backlog_entries``: each worker reports the groups it reads or feeds, under the same name."""
    return Gauge("emostream_stream_backlog_entries", "Entries not yet acknowledged by the group.", ["stream", "group"], registry=registry)


class IngestMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        _no_created_series()
        self.frames = Counter(
            "emostream_ingest_frames_total",
            "Frames by outcome: analysed, skipped (a live source delivers more than its fps), dropped (backpressure) or failed (decode/detect error).",
            ["source", "outcome"],
            registry=registry,
        )
        self.faces = Counter(
            "emostream_ingest_faces_total",
            "Detected faces by outcome: published for classification, too_small, or unconfirmed (their track was not confirmed "
            "yet: detector.check, tracker.confirm_hits, tracker.confirm_score).",
            ["source", "detector", "outcome"],
            registry=registry,
        )
        self.tracks = Counter(
            "emostream_ingest_tracks_total",
            "New tracks by outcome: confirmed (their faces are published from then on) or unconfirmed (ended before confirmation: "
            "a false face or a blip, nothing published).",
            ["source", "outcome"],
            registry=registry,
        )
        self.checks = Counter(
            "emostream_ingest_face_checks_total",
            "Second looks at new tracks' faces before they are published (detector.check), by outcome: passed (the track is "
            "published) or failed (not a face, or not clearly one yet).",
            ["source", "outcome"],
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
        self.backlog = stream_backlog(registry)

    def init_source(self, source: str, detector: str, error_kinds: tuple[str, ...]) -> None:
        """Create the source's series at 0 when it starts, so its first drop, reconnect or missing face is seen.

        ``source_up`` starts at 0: a source is down until it delivers, so one that
        never connects fires ``EmostreamSourceDown`` like one that went away.
        """
        for outcome in FRAME_OUTCOMES:
            self.frames.labels(source, outcome)
        for outcome in FACE_OUTCOMES:
            self.faces.labels(source, detector, outcome)
        for outcome in TRACK_OUTCOMES:
            self.tracks.labels(source, outcome)
        for outcome in CHECK_OUTCOMES:
            self.checks.labels(source, outcome)
        for kind in error_kinds:
            self.errors.labels(source, kind)
        for reason in DROP_REASONS:
            self.dropped.labels(source, reason)
        self.reconnects.labels(source)
        self.sessions.labels(source)
        self.source_up.labels(source).set(0)

    def remove_source(self, source: str) -> None:
        """Drop every series of a source that was removed, so nothing reports (or alerts on) it any more."""
        for metric in (self.frames, self.faces, self.source_up, self.reconnects, self.errors, self.decode_detect, self.sessions, self.first_frame,
                       self.dropped, self.tracks, self.checks):
            metric.remove_by_labels({"source": source})


class ClassifierMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        _no_created_series()
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
        self.backlog = stream_backlog(registry)
        for outcome in CLASSIFIER_OUTCOMES:
            self.faces.labels(outcome)
        for reason in DEADLETTER_REASONS:
            self.deadletters.labels(reason)


class AggregatorMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        _no_created_series()
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
        self.backlog = stream_backlog(registry)
        self.finish_failures = Counter(
            "emostream_aggregator_finish_failures_total", "Failed tries to finish a session, by part: summary, summary_file, chart.",
            ["part"], registry=registry,
        )
        self.sessions_incomplete = Counter(
            "emostream_aggregator_sessions_incomplete_total",
            "Sessions summarised without a part that kept failing (summary_file, chart), or dead-lettered (summary).",
            ["part"], registry=registry,
        )
        self.disk_errors = Counter(
            "emostream_aggregator_disk_errors_total", "Failed writes to aggregator.summary_dir, by cause.", ["cause"], registry=registry
        )
        for reason in (*DEADLETTER_REASONS, "unknown_session", "closed_session", "session"):
            self.deadletters.labels(reason)
        for part in FINISH_PARTS:
            self.finish_failures.labels(part)
            self.sessions_incomplete.labels(part)
        for cause in DISK_CAUSES:
            self.disk_errors.labels(cause)

    def drop_source(self, source: str, stream: str, group: str) -> None:
        """Remove a source's gauges when it moves to another aggregator (summed, they would count it twice).

        Its counters stay, frozen: summed over aggregators they still equal what was counted.
        """
        for gauge, labels in [*((self.share, (source, e)) for e in EMOTIONS), (self.tracks_active, (source,)), (self.backlog, (stream, group))]:
            with contextlib.suppress(KeyError):
                gauge.remove(*labels)

    def init_source(self, source: str) -> None:
        """Create a newly seen source's counters at 0 (the rolling share gauge stays absent until there are faces)."""
        for emotion in EMOTIONS:
            self.events.labels(source, emotion)
        for reason in SESSION_END_REASONS:
            self.sessions_ended.labels(source, reason)
        for kind in TRACK_EVENT_TYPES:
            self.track_events.labels(source, kind)
        self.duplicates.labels(source)
        self.unsmoothed.labels(source)
        self.tracks_active.labels(source).set(0)


class FaultCollector(Collector):
    """``emostream_faults_total{site}``: every repeated fault counted, logged or not, for each site of this process."""

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily("emostream_faults", "Faults met by polls and probes, each logged once per distinct cause.", labels=["site"])
        for site in faults.sites():
            family.add_metric([site.site], site.count)
        yield family
