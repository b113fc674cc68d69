"""Hostile stream entries for the hostile-message suite: each is bad by construction, and says which role refuses it.

A bad entry is a good message with one field broken by a value no range
allows (huge, negative, NaN-like text, a wrong type), an id beside the rule's
edge, or a valid message of a session that never started. ``Bad.kind`` says
which dead-letter counter is to count it: the classifier's (face jobs it
cannot decode) or the aggregator's (everything else, including the event of a
face job whose session is unknown).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import strategies as st

from emostream.streams.events import build_event, encode_event
from emostream.streams.keys import Keys
from emostream.streams.lifecycle import FacesDropped, SessionEnd, SessionStart, encode_lifecycle
from tests.helpers import face_job

# Out of every number's range, or of the wrong type: none of these is a valid value for any numeric field.
HOSTILE_NUMBERS = [1e300, -1e300, 1e308, 10**30, -(10**30), 2**64, "NaN", "Infinity", "-1", "1e999", None, [], {}, True, "七"]
# Beside the id rule's edges: one past the length, empty, dots only, a slash, a space, a colon (sessions), unicode.
HOSTILE_IDS = ["x" * 129, "", ".", "..", "a/b", "a b", "s:1", "café", "a\nb", "{x}"]
FACE_NUMBERS = ("seq", "pts", "offset", "interval", "captured_ts", "width", "height", "track", "score", "decode_detect_ms")
EVENT_NUMBERS = (("frame", "seq"), ("frame", "pts"), ("frame", "offset_s"), ("frame", "interval_s"), ("face", "track_id"),
                 ("face", "score"), ("emotion", "confidence"), ("latency_ms", "queue"), ("frame", "width"))
END_NUMBERS = ("started_ts", "ended_ts", "frames_analysed", "faces", "media_s")


@dataclass(frozen=True)
class Bad:
    stream: str  # "faces", "events:<source>" or "lifecycle"
    fields: dict[str, Any]
    kind: str  # the role that dead-letters it: "classifier" or "aggregator"


def _job(source: str, session: str) -> dict[str, Any]:
    encoded = face_job(source=source, session=session, size=64, captured_ts=time.time()).encode()
    return {"data": json.loads(encoded["data"]), "crop": bytes(encoded["crop"])}


@st.composite
def bad_face_jobs(draw: st.DrawFn, source: str) -> Bad:
    job = _job(source, f"{source}-hostile")
    how = draw(st.sampled_from(["number", "id", "unknown_session", "garbage"]))
    if how == "unknown_session":  # valid: classified, then its event is refused by the aggregator
        job["data"]["session"] = f"{source}-never-{draw(st.integers(0, 10**6))}"
        return Bad("faces", {"v": "1", "data": json.dumps(job["data"]), "crop": job["crop"]}, "aggregator")
    if how == "number":
        job["data"][draw(st.sampled_from(FACE_NUMBERS))] = draw(st.sampled_from(HOSTILE_NUMBERS))
    elif how == "id":
        job["data"][draw(st.sampled_from(["session", "source"]))] = draw(st.sampled_from(HOSTILE_IDS))
    else:
        return Bad("faces", {"v": "1", "data": draw(st.binary(max_size=64)), "crop": b"\0"}, "classifier")
    return Bad("faces", {"v": "1", "data": json.dumps(job["data"]), "crop": job["crop"]}, "classifier")


def _event(source: str, session: str) -> dict[str, Any]:
    job = face_job(source=source, session=session, captured_ts=time.time())
    return build_event(job, np.full(7, 1 / 7, np.float32), "m", "1", 1.0, 2.0, time.time()).to_dict()


@st.composite
def bad_events(draw: st.DrawFn, source: str) -> Bad:
    body = _event(source, f"{source}-hostile")
    how = draw(st.sampled_from(["number", "id", "unknown_session"]))
    if how == "number":
        section, name = draw(st.sampled_from(EVENT_NUMBERS))
        body[section][name] = draw(st.sampled_from(HOSTILE_NUMBERS))
    elif how == "id":
        body[draw(st.sampled_from(["session", "event_id"]))] = draw(st.sampled_from(HOSTILE_IDS[:6]))
    else:
        body = _event(source, f"{source}-never-{draw(st.integers(0, 10**6))}")
    return Bad(f"events:{source}", {"v": "1", "data": json.dumps(body)}, "aggregator")


@st.composite
def bad_lifecycle(draw: st.DrawFn, source: str) -> Bad:
    now = time.time()
    kind = draw(st.sampled_from(["start", "end", "dropped", "dropped_unknown"]))
    session = f"{source}-hostile-{draw(st.integers(0, 10**6))}"
    if kind == "start":
        body: dict[str, Any] = {"source": source, "session": session, "started_ts": draw(st.sampled_from(HOSTILE_NUMBERS)), "url": "x"}
    elif kind == "end":
        body = json.loads(json.dumps(SessionEnd(source, session, now, now, "eof", 1, 0, 0, 1, 0).__dict__))
        body[draw(st.sampled_from(END_NUMBERS))] = draw(st.sampled_from(HOSTILE_NUMBERS))
    elif kind == "dropped":
        body = {"source": source, "session": session, "reason": "age", "event_ids": [draw(st.sampled_from([*HOSTILE_IDS[:7], "x" * 201]))]}
    else:  # valid, but its session never started: it must open nothing (it once opened a session dated 1970)
        kind, body = "dropped", FacesDropped(source, session, "age", (f"{session}:1:1",)).__dict__
    return Bad("lifecycle", {"v": "1", "type": kind, "data": json.dumps(body)}, "aggregator")


def bad_entries(source: str) -> st.SearchStrategy[Bad]:
    return bad_face_jobs(source) | bad_events(source) | bad_lifecycle(source)


def write(client: Any, keys: Keys, bad: Bad) -> bytes:
    stream = {"faces": keys.faces, "lifecycle": keys.lifecycle}.get(bad.stream) or keys.events(bad.stream.split(":", 1)[1])
    return client.xadd(stream, bad.fields)  # type: ignore[no-any-return]


def good_session(client: Any, keys: Keys, source: str, session: str, faces: int) -> None:
    """A whole session as ingest writes it: start, face jobs, end."""
    now = time.time()
    client.sadd(keys.sources, source)
    client.xadd(keys.lifecycle, encode_lifecycle(SessionStart(source, session, now, f"{source}.mp4")))
    for seq in range(faces):
        client.xadd(keys.faces, face_job(source=source, session=session, seq=seq, size=64, captured_ts=now).encode())
    client.xadd(keys.lifecycle, encode_lifecycle(SessionEnd(source, session, now, now + 1, "eof", faces, 0, 0, faces, 0)))


__all__ = ["Bad", "bad_entries", "encode_event", "good_session", "write"]
