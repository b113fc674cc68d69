"""Hostile identifiers in entries that anyone with write access to Redis can add (issue #17, items 2 and 6).

Ids become stream names, Redis keys and file names; each entry below carries
traversal or control characters in one and must be dead-lettered with its
reason: no file outside ``summary_dir``, no stream with a bad name, nothing counted.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis

from emostream.classifier.worker import ClassifierWorker
from emostream.streams.events import build_event, encode_event
from emostream.streams.keys import Keys, SessionPart
from tests.aggregator.support import end, event, publish, run_until_summary, start, step, stepped
from tests.helpers import face_job

HOSTILE = ["../pwned", "../../evil\r\nx", "a}b{c", "..", "ok\n", "x" * 200]


def dead_letters(rclient: redis.Redis, keys: Keys) -> list[dict[bytes, bytes]]:
    return [fields for _, fields in rclient.xrange(keys.deadletter)]


def lifecycle_entry(kind: str, session: str) -> dict[str, str]:
    now = time.time()
    body: dict[str, Any] = {"source": "cam1", "session": session, "started_ts": now}
    if kind == "start":
        body["url"] = "cam.mp4"
    else:
        body.update(ended_ts=now + 1, reason="eof", frames_analysed=1, frames_dropped=0, frames_failed=0, faces=0, faces_skipped=0)
    return {"v": "1", "type": kind, "data": json.dumps(body)}


@pytest.mark.parametrize("session", HOSTILE)
def test_a_lifecycle_entry_with_a_hostile_session_id_is_dead_lettered_and_writes_no_file(
    make_config: Any, rclient: redis.Redis, tmp_path: Path, session: str
) -> None:
    # Given a start and an end message whose session id is hostile
    worker = stepped(make_config())
    keys = worker.keys
    rclient.xadd(keys.lifecycle, lifecycle_entry("start", session))
    rclient.xadd(keys.lifecycle, lifecycle_entry("end", session))
    # When the aggregator runs a few steps
    step(worker, 3)
    # Then both went to the dead-letter stream with a reason naming the session id, and nothing was written anywhere
    letters = dead_letters(rclient, keys)
    assert len(letters) == 2 and all(b"session" in letter[b"reason"] for letter in letters), letters
    assert all(b"\r" not in letter[b"reason"] and b"\n" not in letter[b"reason"] for letter in letters), "a reason is one printable line"
    assert rclient.xpending(keys.lifecycle, "aggregators")["pending"] == 0, "dead letters are acknowledged"
    assert not rclient.smembers(keys.open_sessions), "no session was opened"
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == [], "no file was written"
    assert worker.registry.get_sample_value("emostream_aggregator_deadletters_total", {"reason": "malformed"}) == 2


def test_an_event_with_hostile_ids_or_a_foreign_source_is_dead_lettered(make_config: Any, rclient: redis.Redis) -> None:
    # Given a started session, and events on its stream whose session or source is hostile or not the stream's
    worker = stepped(make_config())
    keys = worker.keys
    start(rclient, keys, "cam1-s")
    good = event("cam1-s", 0, 1, "happy")
    bad_bodies = []
    for field, value in (("session", "../pwned"), ("source", "cam1\r\nx"), ("source", "cam2"), ("event_id", "a/b")):
        body = good.to_dict()
        body[field] = value
        bad_bodies.append(body)
    for body in bad_bodies:
        rclient.xadd(keys.events("cam1"), {"v": "1", "data": json.dumps(body)})
    publish(rclient, keys, [good])
    # When the aggregator runs
    step(worker, 3)
    # Then the good event alone is counted, and each bad one is dead-lettered with its reason
    reasons = [letter[b"reason"].decode() for letter in dead_letters(rclient, keys)]
    assert len(reasons) == 4, reasons
    assert "session id '../pwned'" in reasons[0] and "source id" in reasons[1]
    assert "on the events stream of 'cam1'" in reasons[2] and "event_id" in reasons[3]
    assert worker.store.state("cam1-s").get("events") == "1", "only the valid event is counted"


def test_an_event_for_a_session_that_never_started_is_dead_lettered_not_counted(make_config: Any, rclient: redis.Redis) -> None:
    # Given an event of a session no start message announced, older than end_grace_s
    worker = stepped(make_config(aggregator={"end_grace_s": 0.2}))
    keys = worker.keys
    rclient.sadd(keys.sources, "cam1")
    publish(rclient, keys, [event("cam1-forged", 0, 1, "angry")])
    time.sleep(0.3)
    # When the aggregator runs
    step(worker, 2)
    # Then it is dead-lettered with the reason, and no session state exists for it
    [letter] = dead_letters(rclient, keys)
    assert letter[b"reason"] == b"event of session 'cam1-forged', which never started"
    assert not rclient.smembers(keys.open_sessions) and not rclient.exists(keys.agg("cam1-forged", SessionPart.STATE))
    assert worker.registry.get_sample_value("emostream_aggregator_deadletters_total", {"reason": "unknown_session"}) == 1
    assert not worker.registry.get_sample_value("emostream_aggregator_events_total", {"source": "cam1", "emotion": "angry"})


def test_a_young_event_of_a_session_not_yet_recorded_waits_instead_of_being_refused(make_config: Any, rclient: redis.Redis) -> None:
    # Given an event whose session's start message is not recorded yet (another aggregator holds it)
    worker = stepped(make_config(aggregator={"claim_idle_ms": 200, "reorder_ms": 0}))
    keys = worker.keys
    rclient.sadd(keys.sources, "cam1")
    publish(rclient, keys, [event("cam1-late", 0, 1, "sad")])
    step(worker, 2)
    assert not dead_letters(rclient, keys), "a young event of an unknown session is not refused at once"
    # When the start (and end) arrive afterwards
    start(rclient, keys, "cam1-late")
    end(rclient, keys, "cam1-late", faces=1, frames=1)
    # Then the waiting event is claimed again, counted, and the session summarised with it
    summary = run_until_summary(worker, rclient, "cam1-late")
    assert summary["faces"] == 1 and not dead_letters(rclient, keys)


@pytest.fixture
def classifier(make_config: Any) -> Iterator[ClassifierWorker]:
    worker = ClassifierWorker(make_config(classifier={"model": "mini-xception", "batch_wait_ms": 10}), consumer="c1")
    yield worker
    worker.runtime.close()


def test_a_face_job_with_a_hostile_source_creates_no_stream(classifier: ClassifierWorker, rclient: redis.Redis, prefix: str) -> None:
    # Given face jobs whose source or session is hostile, and one good one
    keys = classifier.keys
    for source, session in (("../../evil\r\nx", "s1"), ("cam1", "../pwned"), ("cam1", "a b")):
        rclient.xadd(keys.faces, face_job(source=source, session=session).encode())
    rclient.xadd(keys.faces, face_job().encode())
    # When the classifier runs
    for _ in range(5):
        classifier.step()
    # Then only the good face has an event, the others are dead-lettered with the reason, and no other stream exists
    streams = sorted(k.decode() for k in rclient.scan_iter(f"{prefix}:*", _type="stream"))
    assert streams == sorted([keys.faces, keys.deadletter, keys.events("cam1")]), streams
    others = sorted(k.decode() for k in rclient.scan_iter(f"{prefix}:*") if k.decode() not in streams)
    assert others == [keys.classifier_stats], f"keys besides the streams: {others}"  # the replicas' forward-pass times (freshness)
    reasons = [letter[b"reason"].decode() for letter in dead_letters(rclient, keys)]
    assert len(reasons) == 3 and all("id" in r for r in reasons), reasons
    assert rclient.xlen(keys.events("cam1")) == 1


def test_a_dead_letter_keeps_a_bounded_prefix_of_an_oversized_entry(make_config: Any, rclient: redis.Redis) -> None:
    # Given a 2 MB entry that is not an event
    worker = stepped(make_config())
    keys = worker.keys
    rclient.sadd(keys.sources, "cam1")
    rclient.xadd(keys.events("cam1"), {"v": "1", "data": b"{" + b" " * 2_000_000})
    # When it is dead-lettered
    step(worker, 2)
    # Then the letter holds a short prefix and the original size, not 2 MB
    [letter] = dead_letters(rclient, keys)
    assert len(letter[b"orig:data"]) <= 8192 and letter[b"orig:data_bytes"] == b"2000001"
    assert sum(len(v) for v in letter.values()) < 10_000


def test_the_classifier_builds_events_from_valid_jobs_only(rclient: redis.Redis) -> None:
    # A guard on build_event's shortcut (no re-validation): what it builds from a decoded job always validates.
    from emostream.streams.events import decode_event

    job = face_job()
    built = build_event(job, np.full(7, 1 / 7, np.float32), "m", "1", 1.0, 2.0, time.time())
    fields: Any = {k.encode(): (v.encode() if isinstance(v, str) else bytes(v)) for k, v in encode_event(built).items()}
    assert decode_event(fields) == built
