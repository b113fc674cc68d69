"""Every number of every message has a range: values a real deployment never reaches are refused on decoding.

Each case here was accepted once (issue 24): finite and non-negative, but
1e300 seconds overflowed the chart, 1e308 s of interval made a session
"happy 100 %", and a seq of 1e30 loses its digits in any JSON reader.
"""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
import pytest

from emostream.streams.events import build_event, decode_event
from emostream.streams.facejob import FaceJob
from emostream.streams.lifecycle import decode_lifecycle
from emostream.streams.wire import MessageError
from tests.helpers import face_job

SAFE = 2**53 - 1
TEN_YEARS = 10 * 366 * 86_400


def job_fields(**changes: Any) -> dict[bytes, bytes]:
    encoded = face_job(size=8).encode()
    data = json.loads(encoded["data"])
    data.update(changes)
    return {b"v": b"1", b"data": json.dumps(data).encode(), b"crop": bytes(encoded["crop"])}


def event_fields(section: str | None, **changes: Any) -> dict[bytes, bytes]:
    body = build_event(face_job(), np.full(7, 1 / 7, np.float32), "m", "1", 1.0, 2.0, time.time()).to_dict()
    (body[section] if section else body).update(changes)
    return {b"v": b"1", b"data": json.dumps(body).encode()}


def lifecycle_fields(kind: str, **changes: Any) -> dict[bytes, bytes]:
    bodies = {
        "start": {"source": "cam1", "session": "cam1-s1", "started_ts": time.time(), "url": "a.mp4"},
        "end": {"source": "cam1", "session": "cam1-s1", "started_ts": time.time(), "ended_ts": time.time(), "reason": "eof",
                "frames_analysed": 1, "frames_dropped": 0, "frames_failed": 0, "faces": 1, "faces_skipped": 0},
        "dropped": {"source": "cam1", "session": "cam1-s1", "reason": "age", "event_ids": ["cam1-s1:1:1"]},
    }
    return {b"v": b"1", b"type": kind.encode(), b"data": json.dumps({**bodies[kind], **changes}).encode()}


@pytest.mark.parametrize(
    "changes",
    [
        {"offset": 1e300, "pts": 1e300, "interval": 1e300},  # the face job that wedged every later summary
        {"offset": TEN_YEARS + 1}, {"pts": -TEN_YEARS - 1}, {"interval": 86_400.5}, {"seq": 10**30}, {"seq": SAFE + 1},
        {"track": 10**40}, {"track": 2**32}, {"width": 2**20 + 1}, {"decode_detect_ms": 1e300}, {"max_age_ms": 1e300},
        {"crop_shape": [4097, 1, 1]}, {"box": [0, 0, 2**20 + 1, 10]}, {"box": [2**60, 0, 10, 10]},
    ],
)
def test_a_face_job_out_of_range_is_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(MessageError, match=r"less than or equal|greater than or equal|at most"):
        FaceJob.decode(job_fields(**changes))


def test_a_face_job_at_the_edges_of_its_ranges_decodes() -> None:
    job = FaceJob.decode(job_fields(offset=TEN_YEARS, pts=-TEN_YEARS, interval=86_400, seq=SAFE, track=2**32 - 1, width=2**20))
    assert (job.seq, job.track, job.offset, job.interval) == (SAFE, 2**32 - 1, TEN_YEARS, 86_400)


@pytest.mark.parametrize(
    ("section", "changes"),
    [
        ("frame", {"interval_s": 1e308}), ("frame", {"seq": 10**30}), ("frame", {"offset_s": 1e300}), ("frame", {"pts": 1e300}),
        ("frame", {"width": 10**9}), ("face", {"track_id": 10**40}), ("latency_ms", {"inference": 1e300}),
        ("model", {"name": "m" * 129}),
    ],
)
def test_an_event_out_of_range_is_refused(section: str, changes: dict[str, Any]) -> None:
    body = json.loads(event_fields(None)[b"data"])
    body[section].update(changes)
    with pytest.raises(MessageError):
        decode_event({b"v": b"1", b"data": json.dumps(body).encode()})


@pytest.mark.parametrize(
    ("kind", "changes"),
    [
        ("start", {"started_ts": -1e300}), ("start", {"started_ts": 1e300}), ("end", {"ended_ts": 1e300}),
        ("end", {"faces": 10**30}), ("end", {"media_s": 1e300}),
        ("dropped", {"event_ids": ["../../etc/passwd"]}), ("dropped", {"event_ids": ["a b"]}), ("dropped", {"event_ids": ["x" * 201]}),
        ("dropped", {"event_ids": []}), ("dropped", {"event_ids": [f"s:{i}:1" for i in range(16_385)]}),
    ],
)
def test_a_lifecycle_message_out_of_range_is_refused(kind: str, changes: dict[str, Any]) -> None:
    with pytest.raises(MessageError):
        decode_lifecycle(lifecycle_fields(kind, **changes))
