"""Properties of message decoding: any stream entry decodes to a valid message or raises MessageError.

A stream is written by other processes, other versions and, on a shared Redis,
other programs; a decoder that raises anything else would crash a worker's
batch instead of dead-lettering one entry. Generated entries range from random
bytes to valid messages with one field broken.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import re
from typing import Any

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from emostream.streams.eventjson import format_events, queue_ms
from emostream.streams.events import build_event, decode_event
from emostream.streams.facejob import DETECTORS, FaceJob, decode_batch
from emostream.streams.lifecycle import SessionEnd, SessionStart, decode_lifecycle, encode_lifecycle
from emostream.streams.numbers import DAY_MS, DAY_S, PIXELS_SIDE_MAX, SAFE_INT, TEN_YEARS_S
from emostream.streams.records import decode_summary, decode_track
from emostream.streams.schema import event_errors
from emostream.streams.wire import MessageError

PROPERTY_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- building blocks ----------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20)
json_values = st.recursive(
    json_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=12
)
# Numbers that break int()/float() conversions in ways a "well-formed JSON" check does not catch.
hostile_numbers = st.sampled_from(
    [math.inf, -math.inf, math.nan, 10**30, -(10**30), 10**400, 2**63, 1e308, -1, 0, True, "7", "x", None, [], {}]
)

FACE_JOB_KEYS = ("source", "session", "seq", "pts", "offset", "interval", "captured_ts", "width", "height", "track", "box",
                 "detector", "score", "decode_detect_ms", "crop_shape")

finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
non_negative = st.floats(0, allow_infinity=False, width=64)
names = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=40)
# Ids that may become Redis keys or file names follow config.ids; anything else is refused (see below).
ids = st.from_regex(r"\A[A-Za-z0-9_.-]{1,40}\Z").filter(lambda s: s.strip(".") != "")
detectors = st.sampled_from(DETECTORS)


@st.composite
def face_jobs(draw: st.DrawFn) -> FaceJob:
    """A valid face job, as ingest makes them: ids by the rule, numbers in their ranges, a crop of 1 or 3 channels."""
    shape = (draw(st.integers(1, 32)), draw(st.integers(1, 32)), draw(st.sampled_from([1, 3])))
    return FaceJob(
        source=draw(ids), session=draw(ids), seq=draw(st.integers(0, SAFE_INT)), pts=draw(st.floats(-TEN_YEARS_S, TEN_YEARS_S)),
        offset=draw(st.floats(0, TEN_YEARS_S)), interval=draw(st.floats(0, DAY_S)), captured_ts=draw(st.floats(0, 1e10)),
        width=draw(st.integers(1, 10_000)), height=draw(st.integers(1, 10_000)), track=draw(st.integers(0, 2**31)),
        box=(draw(st.integers(-(2**31), 2**31)), draw(st.integers(-(2**31), 2**31)), draw(st.integers(1, PIXELS_SIDE_MAX)),
             draw(st.integers(1, PIXELS_SIDE_MAX))),
        detector=draw(detectors), score=draw(st.floats(0, 1)), decode_detect_ms=draw(st.floats(0, DAY_MS)),
        crop=draw(arrays(np.uint8, shape)),
    )


def as_fields(encoded: dict[str, bytes | str]) -> dict[bytes, bytes]:
    """What redis-py hands back for an entry written with ``encoded``."""
    return {k.encode(): (v.encode() if isinstance(v, str) else bytes(v)) for k, v in encoded.items()}


@st.composite
def broken_face_jobs(draw: st.DrawFn) -> dict[bytes, bytes]:
    """A valid encoded face job with some of its JSON fields replaced, removed, or its crop cut."""
    fields = as_fields(draw(face_jobs()).encode())
    data = json.loads(fields[b"data"])
    for key in draw(st.lists(st.sampled_from(FACE_JOB_KEYS), max_size=3, unique=True)):
        action = draw(st.sampled_from(["replace", "hostile", "delete"]))
        if action == "delete":
            data.pop(key, None)
        else:
            data[key] = draw(json_values if action == "replace" else hostile_numbers)
    if draw(st.booleans()):
        data["crop_shape"] = draw(st.lists(hostile_numbers | st.integers(-5, 40), max_size=4))
    fields[b"data"] = json.dumps(data, allow_nan=True).encode()
    if draw(st.booleans()):
        fields[b"crop"] = fields[b"crop"][: draw(st.integers(0, len(fields[b"crop"])))]
    return fields


raw_entries = st.dictionaries(
    st.sampled_from([b"v", b"data", b"crop", b"type"]) | st.binary(max_size=8),
    st.sampled_from([b"1", b"2", b"", b"start", b"end", b"{}", b"[]", b"null"]) | st.binary(max_size=64),
    max_size=5,
)


@st.composite
def json_entries(draw: st.DrawFn) -> dict[bytes, bytes]:
    """Version 1 entries whose data is arbitrary JSON (usually an object with some of the expected keys)."""
    keys = st.sampled_from([*FACE_JOB_KEYS, "event_id", "frame", "face", "emotion", "type", "id", "track_id", "after", "started_ts",
                            "ended_ts", "reason", "url", "faces"]) | st.text(max_size=8)
    data = draw(st.dictionaries(keys, json_values | hostile_numbers, max_size=12) | json_values)
    fields = {b"v": b"1", b"data": json.dumps(data, allow_nan=True).encode()}
    if draw(st.booleans()):
        fields[b"type"] = draw(st.sampled_from([b"start", b"end", b"new", b"update", b"x", b"\xff"]))
    if draw(st.booleans()):
        fields[b"crop"] = draw(st.binary(max_size=64))
    return fields


entries = raw_entries | json_entries() | broken_face_jobs()
DECODERS = (FaceJob.decode, decode_event, decode_lifecycle, decode_track, decode_summary)

# Payloads that once escaped as other exceptions (kept as explicit examples).
DEEP_JSON = {b"v": b"1", b"data": b"[" * 100_000 + b"]" * 100_000}
HUGE_INT = {b"v": b"1", b"data": b'{"seq": ' + b"9" * 5000 + b"}"}
INFINITE_SHAPE = {b"v": b"1", b"data": b'{"crop_shape": [1e999, 1, 1]}', b"crop": b"x"}


# --- properties ---------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(entries)
@example(DEEP_JSON)
@example(HUGE_INT)
@example(INFINITE_SHAPE)
def test_any_entry_decodes_or_raises_message_error(fields: dict[bytes, bytes]) -> None:
    for decode in DECODERS:
        with contextlib.suppress(MessageError):
            decode(fields)


@PROPERTY_SETTINGS
@given(broken_face_jobs())
def test_a_decoded_face_job_is_consistent(fields: dict[bytes, bytes]) -> None:
    """Whatever was broken, a job that does decode is one the classifier can use."""
    try:
        job = FaceJob.decode(fields)
    except MessageError:
        return
    assert job.crop.ndim == 3 and job.crop.dtype == np.uint8 and job.crop.size == len(fields[b"crop"])
    assert len(job.box) == 4 and all(isinstance(n, int) for n in job.box)
    for name in ("pts", "offset", "interval", "captured_ts", "score", "decode_detect_ms"):
        assert isinstance(getattr(job, name), float), name
    for name in ("seq", "width", "height", "track"):
        assert isinstance(getattr(job, name), int), name


@PROPERTY_SETTINGS
@given(face_jobs())
def test_face_job_round_trip(job: FaceJob) -> None:
    back = FaceJob.decode(as_fields(job.encode()))
    assert back == job
    assert back.crop.shape == job.crop.shape and np.array_equal(back.crop, job.crop)
    assert back.event_id == job.event_id


epoch_seconds = st.floats(0, 1e11)
lifecycle_messages = st.builds(SessionStart, ids, ids, epoch_seconds, st.text(max_size=60)) | st.builds(
    SessionEnd, ids, ids, epoch_seconds, epoch_seconds, st.sampled_from(["eof", "stopped", "timeout", "error"]),
    *[st.integers(0, SAFE_INT)] * 6,
)


@PROPERTY_SETTINGS
@given(lifecycle_messages)
def test_lifecycle_round_trip(message: SessionStart | SessionEnd) -> None:
    assert decode_lifecycle(as_fields(encode_lifecycle(message))) == message


@PROPERTY_SETTINGS
@given(lifecycle_messages, st.data())
def test_a_decoded_lifecycle_message_has_its_declared_types(message: SessionStart | SessionEnd, data: st.DataObject) -> None:
    """A start or end message with a field of the wrong type is refused, not passed on to the aggregator."""
    body = dataclasses.asdict(message)
    broken = data.draw(st.sampled_from(sorted(body)))
    body[broken] = data.draw(json_values | hostile_numbers)
    fields = {b"v": b"1", b"type": message.kind.encode(), b"data": json.dumps(body, allow_nan=True).encode()}
    try:
        decoded = decode_lifecycle(fields)
    except MessageError:
        return
    for spec in dataclasses.fields(decoded):
        value: Any = getattr(decoded, spec.name)
        expected = {"SourceId": str, "SessionId": str, "Url": str, "EndReason": str, "EpochSeconds": float, "Offset": float,
                    "Count": int}[str(spec.type)]
        assert isinstance(value, expected) and not isinstance(value, bool), f"{spec.name}={value!r} is not a {expected.__name__}"
        if expected is float:
            assert math.isfinite(value), f"{spec.name}={value!r}"


@PROPERTY_SETTINGS
@given(face_jobs(), st.sampled_from(["source", "session"]), names)
def test_a_face_job_with_an_id_outside_the_rule_is_refused(job: FaceJob, field: str, bad: str) -> None:
    """Whatever text an id holds, it decodes only if it follows the rule: nothing else reaches a key or a path."""
    fields = as_fields(dataclasses.replace(job, **{field: bad}).encode())
    try:
        decoded = FaceJob.decode(fields)
    except MessageError:
        return
    assert re.fullmatch(r"[A-Za-z0-9_.-]{1,128}", getattr(decoded, field)) and getattr(decoded, field).strip(".")


@PROPERTY_SETTINGS
@given(face_jobs(), st.lists(st.floats(0, 1, width=32), min_size=7, max_size=7), st.floats(-10, 1e4))
def test_every_decoded_face_job_makes_a_valid_event(job: FaceJob, probabilities: list[float], delay: float) -> None:
    """The classifier builds each event from a decoded job: that must never fail validation (the batch would be stuck)."""
    decoded = FaceJob.decode(as_fields(job.encode()))
    event = build_event(decoded, np.array(probabilities, np.float32), "m", "1", 1.0, 2.0, decoded.captured_ts + delay)
    assert event.source == job.source and event.frame.seq == job.seq


@PROPERTY_SETTINGS
@given(st.lists(face_jobs(), min_size=1, max_size=4), st.data(), st.floats(-10, 1e4), st.floats(0, 1e4), names, names)
def test_the_fast_event_path_makes_the_validated_event_of_every_decoded_job(
    jobs: list[FaceJob], data: st.DataObject, delay: float, inference_ms: float, model: str, version: str
) -> None:
    """The classifier formats a batch's events without validating each (streams.eventjson): each must be
    the very event build_event validates, and valid for the model and the published JSON Schema."""
    entries = [as_fields(dataclasses.replace(job, crop=np.zeros((2, 2, 1), np.uint8)).encode()) for job in jobs]
    batch = decode_batch(entries, (2, 2, 1))
    probabilities = data.draw(arrays(np.float32, (len(jobs), 7), elements=st.floats(0, 1, width=32)))
    taken_ts = max(job.captured_ts for job in jobs)
    published_ts = max(0.0, jobs[0].captured_ts + delay)
    documents = format_events(batch.headers, probabilities, model, version, taken_ts, inference_ms, published_ts)
    for entry, header, row, document in zip(entries, batch.headers, probabilities, documents, strict=True):
        expected = build_event(FaceJob.decode(entry), row, model, version, queue_ms(header, taken_ts), inference_ms, published_ts)
        assert json.loads(document) == expected.to_dict(), document
        assert decode_event({b"v": b"1", b"data": document}) == expected, "the published event must decode, strictly, to the same"
        assert event_errors(json.loads(document)) == [], event_errors(json.loads(document))


@PROPERTY_SETTINGS
@given(face_jobs(), arrays(np.float32, (1, 7), elements=st.floats(width=32)))
def test_the_fast_event_path_refuses_probabilities_no_event_could_carry(job: FaceJob, probabilities: np.ndarray) -> None:
    headers = decode_batch([as_fields(job.encode())], job.crop.shape).headers  # type: ignore[arg-type]
    rounded = np.round(probabilities.astype(np.float64), 4)
    valid = bool(np.isfinite(rounded).all() and (rounded >= 0).all() and (rounded <= 1).all())
    try:
        [document] = format_events(headers, probabilities, "m", "1", job.captured_ts, 1.0, job.captured_ts)
    except ValueError:
        assert not valid, f"valid probabilities {probabilities} were refused"
        return
    assert valid and event_errors(json.loads(document)) == []
