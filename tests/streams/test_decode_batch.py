"""Decoding a batch of face jobs at once: one malformed job is refused, the others go on, crops in one array."""

from __future__ import annotations

import numpy as np

from emostream.streams.facejob import FaceJob, decode_batch
from emostream.streams.wire import Fields
from tests.helpers import face_job


def fields(job: FaceJob) -> Fields:
    return {k.encode(): (v.encode() if isinstance(v, str) else bytes(v)) for k, v in job.encode().items()}


def test_a_malformed_job_among_good_ones_is_refused_alone() -> None:
    # Given a batch with good jobs around a malformed one, one of a wrong size and one whose seq is past its range
    # (this was once "too long an event id": in-range ids, seq and track cannot make one any more)
    good = [face_job(seq=seq, size=48) for seq in range(3)]
    bad_json = {b"v": b"1", b"data": b'{"a":[{}', b"crop": b"\0" * 48 * 48}
    past_range = face_job(seq=2**53, pts=0.0, offset=0.0, size=48)
    entries = [fields(good[0]), bad_json, fields(good[1]), fields(face_job(seq=9, size=64)), fields(past_range), fields(good[2])]
    # When it is decoded for a model that takes 48x48 grey crops
    batch = decode_batch(entries, (48, 48, 1))
    # Then the good ones are kept in order, with their crops in one array, and each bad one has its reason
    assert batch.kept == [0, 2, 5], batch.refused
    assert [h.event_id for h in batch.headers] == [job.event_id for job in good]
    assert batch.crops.shape == (3, 48, 48, 1) and batch.crops.dtype == np.uint8
    assert np.array_equal(batch.crops, np.stack([job.crop for job in good])), "each crop must be its own job's pixels"
    reasons = dict(batch.refused)
    assert sorted(reasons) == [1, 3, 4]
    assert "not JSON" in reasons[1], reasons[1]
    assert "does not match the model input" in reasons[3], reasons[3]
    assert "seq: Input should be less than or equal to 9007199254740991" in reasons[4], reasons[4]


def test_a_batch_of_only_malformed_jobs_has_no_crops() -> None:
    batch = decode_batch([{b"v": b"2"}, {}], (48, 48, 1))
    assert batch.kept == [] and batch.headers == [] and batch.crops.shape == (0, 48, 48, 1)
    assert [index for index, _ in batch.refused] == [0, 1]


def test_the_batch_decode_keeps_what_the_single_decode_keeps() -> None:
    job = face_job(seq=4, track=2, size=48, max_age_ms=800.0)
    [header] = decode_batch([fields(job)], (48, 48, 1)).headers
    single = FaceJob.decode(fields(job))
    assert all(getattr(header, name) == getattr(single, name) for name in ("source", "session", "seq", "track", "box", "max_age_ms"))
    assert header.event_id == single.event_id == job.event_id
