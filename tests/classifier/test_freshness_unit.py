"""Which faces a classifier drops for age: live ones past their bound, never files'."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from emostream.classifier.freshness import Freshness
from emostream.infra.metrics import ClassifierMetrics
from tests.helpers import face_job

NOW = 1_800_000_000.0


def jobs() -> list[tuple[bytes, object]]:
    return [
        (b"1-0", face_job(source="cam", seq=0, captured_ts=NOW - 0.9, max_age_ms=800.0)),  # already too old
        (b"2-0", face_job(source="cam", seq=1, captured_ts=NOW - 0.5, max_age_ms=800.0)),  # too old once inferred (0.4 s)
        (b"3-0", face_job(source="cam", seq=2, captured_ts=NOW - 0.1, max_age_ms=800.0)),  # fresh
        (b"4-0", face_job(source="file", seq=0, captured_ts=NOW - 60.0)),  # a file's face: max_age_ms 0, never dropped
    ]


def test_faces_that_would_miss_their_bound_after_the_expected_inference_are_dropped_before_it() -> None:
    registry = CollectorRegistry()
    freshness = Freshness(ClassifierMetrics(registry))
    for _ in range(40):
        freshness.observe(0.4)
    fresh, stale = freshness.before_inference(jobs(), NOW)  # type: ignore[arg-type]
    assert [eid for eid, _ in stale] == [b"1-0", b"2-0"] and [eid for eid, _ in fresh] == [b"3-0", b"4-0"]
    assert registry.get_sample_value("emostream_classifier_faces_dropped_total", {"source": "file", "reason": "age"}) == 0.0
    freshness.count(stale)
    assert registry.get_sample_value("emostream_classifier_faces_dropped_total", {"source": "cam", "reason": "age"}) == 2.0


def test_the_exact_check_after_inference_uses_the_publish_time() -> None:
    job = face_job(captured_ts=NOW, max_age_ms=800.0)
    assert not Freshness.expired(job, NOW + 0.8) and Freshness.expired(job, NOW + 0.801)
    assert not Freshness.expired(face_job(captured_ts=NOW), NOW + 3600), "a file's face never expires"
