"""Session start and end: ingest announces each session on ``<prefix>:lifecycle`` (internal).

The entry's ``type`` field (``start``, ``end`` or ``dropped``) says which
message ``data`` holds. End of session is a message of its own, carrying the
counts that let the aggregator know when every event of the session is in;
``dropped`` lists live faces a classifier dropped for age, which the
aggregator counts as it counts events.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Annotated, Any, ClassVar

from pydantic import ConfigDict, Field, TypeAdapter

from emostream.config.ids import EventId, SessionId, SourceId, shown
from emostream.streams.numbers import IDS_PER_MESSAGE_MAX, Count, EpochSeconds, Offset
from emostream.streams.wire import Encoded, Fields, MessageError, dumps, envelope, payload, validate

# End reasons become a metrics label, so they are short lowercase words, not free text.
EndReason = Annotated[str, Field(pattern=r"^[a-z_]{1,32}$")]
Url = Annotated[str, Field(max_length=2048)]
_STRICT = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class SessionStart:
    __pydantic_config__ = _STRICT

    source: SourceId
    session: SessionId
    started_ts: EpochSeconds
    url: Url  # redacted

    kind: ClassVar[str] = "start"


@dataclass(frozen=True)
class SessionEnd:
    """A source's session ended; its counts let the aggregator know when every event is in."""

    __pydantic_config__ = _STRICT

    source: SourceId
    session: SessionId
    started_ts: EpochSeconds
    ended_ts: EpochSeconds
    reason: EndReason  # "eof", "stopped", "timeout", "error", "max_duration"
    frames_analysed: Count
    frames_dropped: Count  # not analysed because the classifiers were behind (backpressure)
    frames_failed: Count
    faces: Count  # face jobs published, i.e. events to expect
    faces_skipped: Count  # too small to classify
    frames_skipped: Count = 0  # not analysed by design: a live source delivers more than its fps
    frames_dropped_age: Count = 0  # of frames_dropped: the faces queue was older than ingest.max_queue_age_ms
    media_s: Offset = 0.0  # span of the source's time line analysed: a file's playing time (wall time for live)

    kind: ClassVar[str] = "end"


DropReason = Annotated[str, Field(pattern=r"^[a-z_]{1,32}$")]


@dataclass(frozen=True)
class FacesDropped:
    """Live faces a classifier dropped instead of classifying, because they were too old to be worth it.

    Published by the classifier on the lifecycle stream in the same atomic
    commit that acknowledges the faces (``classifier.commit``), so a face is either an event or a drop, never both
    and never neither. The aggregator counts the ids once each (in the same
    "seen" set as events), so a session's events plus its dropped faces add up
    to the faces ingest announced, and it need not wait for faces that will
    never be events.
    """

    __pydantic_config__ = _STRICT

    source: SourceId
    session: SessionId
    reason: DropReason  # "age"
    # The ids the faces' events would have had (the id rule of ``config.ids``), at most one batch of them.
    event_ids: Annotated[tuple[EventId, ...], Field(min_length=1, max_length=IDS_PER_MESSAGE_MAX)]

    kind: ClassVar[str] = "dropped"


LifecycleMessage = SessionStart | SessionEnd | FacesDropped
_ADAPTERS: dict[str, TypeAdapter[Any]] = {
    "start": TypeAdapter(SessionStart),
    "end": TypeAdapter(SessionEnd),
    "dropped": TypeAdapter(FacesDropped),
}


def encode_lifecycle(message: LifecycleMessage) -> Encoded:
    return envelope(dumps(asdict(message)), type=message.kind)


def decode_lifecycle(fields: Fields) -> LifecycleMessage:
    raw = payload(fields)
    kind = fields.get(b"type", b"").decode(errors="replace")
    adapter = _ADAPTERS.get(kind)
    if adapter is None:
        raise MessageError(f"unknown lifecycle message type {shown(kind, 16)}")
    message: LifecycleMessage = validate(adapter, raw, f"{kind} message")
    return message
