"""Metric series exist from the start (at 0) and end with their source; no ``_created`` duplicates."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from emostream.infra.emotions import EMOTIONS
from emostream.infra.metrics import (
    DEADLETTER_REASONS,
    FACE_OUTCOMES,
    FRAME_OUTCOMES,
    AggregatorMetrics,
    ClassifierMetrics,
    IngestMetrics,
)
from emostream.ingest.errors import KINDS


def samples(registry: CollectorRegistry) -> list[tuple[str, dict[str, str], float]]:
    return [(s.name, dict(s.labels), s.value) for family in registry.collect() for s in family.samples]


def test_a_started_source_has_every_counter_at_zero_and_is_down_until_it_delivers() -> None:
    registry = CollectorRegistry()
    metrics = IngestMetrics(registry)
    metrics.init_source("cam1", "haar", tuple(KINDS))
    for outcome in FRAME_OUTCOMES:
        assert registry.get_sample_value("emostream_ingest_frames_total", {"source": "cam1", "outcome": outcome}) == 0.0, outcome
    for outcome in FACE_OUTCOMES:
        labels = {"source": "cam1", "detector": "haar", "outcome": outcome}
        assert registry.get_sample_value("emostream_ingest_faces_total", labels) == 0.0, outcome
    for kind in KINDS:
        assert registry.get_sample_value("emostream_ingest_source_errors_total", {"source": "cam1", "kind": kind}) == 0.0, kind
    assert registry.get_sample_value("emostream_ingest_reconnects_total", {"source": "cam1"}) == 0.0
    assert registry.get_sample_value("emostream_ingest_source_up", {"source": "cam1"}) == 0.0


def test_a_removed_source_leaves_no_series_and_the_others_keep_theirs() -> None:
    registry = CollectorRegistry()
    metrics = IngestMetrics(registry)
    for source in ("cam1", "cam2"):
        metrics.init_source(source, "mediapipe", tuple(KINDS))
        metrics.source_up.labels(source).set(1)
        metrics.decode_detect.labels(source).observe(0.02)
        metrics.first_frame.labels(source).observe(0.5)
        metrics.frames.labels(source, "analysed").inc(3)
    metrics.remove_source("cam2")
    left = {labels.get("source") for _, labels, _ in samples(registry)}
    assert "cam2" not in left, [s for s in samples(registry) if s[1].get("source") == "cam2"]
    assert registry.get_sample_value("emostream_ingest_frames_total", {"source": "cam1", "outcome": "analysed"}) == 3.0
    assert registry.get_sample_value("emostream_ingest_decode_detect_seconds_count", {"source": "cam1"}) == 1.0


def test_the_dead_letter_and_outcome_series_exist_before_the_first_one() -> None:
    registries = {"classifier": CollectorRegistry(), "aggregator": CollectorRegistry()}
    ClassifierMetrics(registries["classifier"])
    AggregatorMetrics(registries["aggregator"])
    for reason in DEADLETTER_REASONS:
        for part, registry in registries.items():
            assert registry.get_sample_value(f"emostream_{part}_deadletters_total", {"reason": reason}) == 0.0, (part, reason)
    for outcome in ("classified", "deadletter"):
        assert registries["classifier"].get_sample_value("emostream_classifier_faces_total", {"outcome": outcome}) == 0.0


def test_a_source_the_aggregator_sees_has_zero_events_of_each_emotion() -> None:
    registry = CollectorRegistry()
    AggregatorMetrics(registry).init_source("cam1")
    for emotion in EMOTIONS:
        assert registry.get_sample_value("emostream_aggregator_events_total", {"source": "cam1", "emotion": emotion}) == 0.0
    assert registry.get_sample_value("emostream_aggregator_sessions_ended_total", {"source": "cam1", "reason": "eof"}) == 0.0


def test_no_created_series_are_exported() -> None:
    names: set[str] = set()
    for metrics in (IngestMetrics, ClassifierMetrics, AggregatorMetrics):
        registry = CollectorRegistry()
        metrics(registry)
        names |= {name for name, _, _ in samples(registry)}
    assert names and not [n for n in names if n.endswith("_created")], sorted(n for n in names if n.endswith("_created"))
