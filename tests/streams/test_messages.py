"""Messages: encoding round trips and clear errors for entries that are not ours."""

from __future__ import annotations

import numpy as np
import pytest

from emostream.infra.emotions import EMOTIONS
from emostream.streams.events import build_event, decode_event, encode_event
from emostream.streams.facejob import FaceJob
from emostream.streams.lifecycle import SessionEnd, SessionStart, decode_lifecycle, encode_lifecycle
from emostream.streams.schema import event_errors
from emostream.streams.wire import MessageError


def as_fields(encoded: dict[str, bytes | str]) -> dict[bytes, bytes]:
    """What redis-py hands back for an entry written with ``encoded``."""
    return {k.encode(): (v.encode() if isinstance(v, str) else bytes(v)) for k, v in encoded.items()}


def make_job(**overrides: object) -> FaceJob:
    fields: dict[str, object] = dict(
        source="cam1", session="cam1-20260101T000000Z-abcd", seq=7, pts=0.5, offset=0.5, interval=0.1,
        captured_ts=1_700_000_000.25, width=640, height=360, track=3, box=(10, 20, 100, 120),
        detector="mediapipe", score=0.9, decode_detect_ms=12.5, crop=np.arange(48 * 48, dtype=np.uint8).reshape(48, 48, 1),
    )
    fields.update(overrides)
    return FaceJob(**fields)  # type: ignore[arg-type]


def test_face_job_round_trip_keeps_every_field_and_the_pixels() -> None:
    job = make_job()
    back = FaceJob.decode(as_fields(job.encode()))
    assert back == job
    assert np.array_equal(back.crop, job.crop)
    assert back.event_id == "cam1-20260101T000000Z-abcd:7:3"


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({b"data": b"{}"}, "no schema version"),
        ({b"v": b"2", b"data": b"{}"}, "unsupported schema version"),
        ({b"v": b"1"}, "no 'data'"),
        ({b"v": b"1", b"data": b"\xff\xfe"}, "not JSON"),
        ({b"v": b"1", b"data": b"[1]"}, "not a JSON object"),
    ],
)
def test_entries_that_are_not_ours_are_rejected_with_a_reason(fields: dict[bytes, bytes], reason: str) -> None:
    with pytest.raises(MessageError, match=reason):
        FaceJob.decode(fields)


def test_crop_of_the_wrong_size_is_rejected() -> None:
    fields = as_fields(make_job().encode())
    fields[b"crop"] = fields[b"crop"][:-1]
    with pytest.raises(MessageError, match="does not match its shape"):
        FaceJob.decode(fields)


def test_missing_field_is_rejected() -> None:
    fields = as_fields(make_job().encode())
    fields[b"data"] = fields[b"data"].replace(b'"track":3,', b"")
    with pytest.raises(MessageError, match="track"):
        FaceJob.decode(fields)


def test_built_event_validates_against_the_schema() -> None:
    probabilities = np.array([0.05, 0.0, 0.05, 0.7, 0.1, 0.05, 0.05], dtype=np.float32)
    event = build_event(make_job(), probabilities, "m", "1", queue_ms=3.0, inference_ms=4.0, published_ts=1_700_000_000.5)
    assert event_errors(event) == []
    assert event.label == "happy"
    assert list(event.probabilities) == list(EMOTIONS)
    assert event.latency_ms.capture_to_publish == pytest.approx(250.0)
    assert decode_event(as_fields(encode_event(event))) == event


def test_schema_rejects_a_broken_event() -> None:
    event = build_event(make_job(), np.full(7, 1 / 7, np.float32), "m", "1", 0, 0, 1_700_000_000.5).to_dict()
    event["emotion"]["label"] = "bored"
    del event["frame"]["seq"]
    errors = event_errors(event)
    assert any(e.startswith("emotion/label") for e in errors), errors
    assert any("seq" in e for e in errors), errors


def test_lifecycle_round_trip() -> None:
    start = SessionStart("cam1", "s1", 1.0, "rtsp://user:***@cam")
    end = SessionEnd("cam1", "s1", 1.0, 2.0, "eof", 10, 1, 0, 15, 2)
    assert decode_lifecycle(as_fields(encode_lifecycle(start))) == start
    assert decode_lifecycle(as_fields(encode_lifecycle(end))) == end
    with pytest.raises(MessageError, match="unknown lifecycle"):
        decode_lifecycle({b"v": b"1", b"type": b"pause", b"data": b"{}"})


def test_the_example_event_in_the_docs_validates() -> None:
    import json
    import re
    from pathlib import Path

    page = (Path(__file__).resolve().parents[2] / "docs" / "events.md").read_text()
    example = re.search(r"```json\n(\{\n  \"event_id\".*?)\n```", page, re.S)
    assert example, "docs/events.md lost its example event"
    assert event_errors(json.loads(example.group(1))) == []
