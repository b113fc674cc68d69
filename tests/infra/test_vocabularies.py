"""Each vocabulary is written once: metric label sets, the event's emotion type and the policy's drops follow their enums."""

from __future__ import annotations

import json
from pathlib import Path
from typing import get_args

from prometheus_client import CollectorRegistry

from emostream.infra.emotions import EMOTIONS, Emotion
from emostream.infra.metrics import AggregatorMetrics, DropReason, FrameOutcome, IngestMetrics
from emostream.ingest.errors import KINDS
from emostream.ingest.policy import Verdict
from emostream.streams.events import EmotionScores

SCHEMA = Path(__file__).resolve().parents[2] / "src" / "emostream" / "schemas" / "event.v1.json"


def label_values(registry: CollectorRegistry, metric: str, label: str) -> set[str]:
    return {s.labels[label] for family in registry.collect() for s in family.samples if s.name == metric}


def test_the_ingest_frame_and_drop_series_are_the_enums_members() -> None:
    registry = CollectorRegistry()
    IngestMetrics(registry).init_source("cam1", "haar", tuple(KINDS))
    assert label_values(registry, "emostream_ingest_frames_total", "outcome") == {o.value for o in FrameOutcome}
    assert label_values(registry, "emostream_ingest_frames_dropped_total", "reason") == {r.value for r in DropReason}


def test_every_drop_verdict_counts_under_a_drop_reason_and_every_reason_has_a_verdict() -> None:
    drops = {verdict.drop_reason for verdict in Verdict if verdict not in (Verdict.ANALYSE, Verdict.WAIT)}
    assert drops == set(DropReason)


def test_the_emotion_series_the_event_type_and_the_schema_name_the_same_classes() -> None:
    registry = CollectorRegistry()
    AggregatorMetrics(registry).init_source("cam1")
    assert label_values(registry, "emostream_aggregator_events_total", "emotion") == set(EMOTIONS)
    assert get_args(EmotionScores.model_fields["label"].annotation) == get_args(Emotion) == EMOTIONS
    label = json.loads(SCHEMA.read_text())["$defs"]["EmotionScores"]["properties"]["label"]
    assert label["enum"] == list(EMOTIONS), label
