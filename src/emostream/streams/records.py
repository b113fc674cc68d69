"""The aggregator's public records: track events and session summaries.

- :class:`TrackEvent` on ``<prefix>:tracks:<source>``: ``new`` / ``update`` /
  ``end`` with the smoothed state ``before`` and ``after`` (docs/aggregator.md).
  ``type`` is repeated outside ``data`` for cheap filtering.
- :class:`SessionSummary` on ``<prefix>:sessions`` (docs/events.md).

Both are frozen pydantic models, read strictly and tolerant of fields a newer
producer adds. The nested smoothing state (``before``/``after``) and the
per-minute timeline stay plain JSON objects: they are reports whose content
may grow, and readers index them by name (``track.after["dominant"]``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, TypeAdapter

from emostream.config.ids import EventId, SessionId, SourceId
from emostream.streams.numbers import Count, NonNegative
from emostream.streams.wire import Encoded, Fields, envelope, payload, validate

TRACK_TYPES = ("new", "update", "end")


class Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")

    def to_dict(self) -> dict[str, Any]:
        """The JSON document, as published."""
        return self.model_dump(mode="json")


class TrackEvent(Record):
    """One message of ``<prefix>:tracks:<source>``."""

    type: Literal["new", "update", "end"]
    reason: str  # started | label_changed | interval | timeout | idle | session_end
    id: EventId  # "<session>:<track>:<n>", n counting the track's events from 1: replays give the same id
    source: SourceId
    session: SessionId
    track_id: Count
    before: dict[str, Any] | None
    after: dict[str, Any]

    @property
    def label(self) -> str:
        """The smoothed label after this event."""
        return str(self.after["label"])


class Frames(Record):
    analysed: Count
    dropped: Count
    skipped: Count = 0
    failed: Count
    dropped_for_age: Count = 0  # of dropped: the faces queue was too old (ingest.max_queue_age_ms); absent from older aggregators


class EmotionTotals(Record):
    counts: dict[str, Count]
    share: dict[str, NonNegative]


class SessionSummary(Record):
    """The summary of an ended session."""

    source: SourceId
    session: SessionId
    started_at: str
    ended_at: str
    duration_s: NonNegative
    media_duration_s: NonNegative = 0.0
    end_reason: str
    frames: Frames
    faces: Count
    faces_expected: Count
    faces_dropped: Count = 0  # live faces a classifier dropped as too old: faces + faces_dropped = faces_expected
    faces_skipped: Count
    tracks: Count
    emotions: EmotionTotals
    timeline: list[dict[str, Any]]
    chart: dict[str, Any]
    track_summaries: list[dict[str, Any]]

    @property
    def share(self) -> dict[str, float]:
        """Time-weighted share of each emotion over the session."""
        return dict(self.emotions.share)


_TRACK = TypeAdapter(TrackEvent)
_SUMMARY = TypeAdapter(SessionSummary)


def encode_track(event: TrackEvent | dict[str, Any]) -> Encoded:
    """A track event entry; a dict (the aggregator's outbox holds JSON) is validated into the model first."""
    model = event if isinstance(event, TrackEvent) else TrackEvent.model_validate(event)
    return envelope(model.model_dump_json().encode(), type=model.type)


def decode_track(fields: Fields) -> TrackEvent:
    return validate(_TRACK, payload(fields), "track event")


def encode_summary(summary: SessionSummary | dict[str, Any]) -> Encoded:
    model = summary if isinstance(summary, SessionSummary) else SessionSummary.model_validate(summary)
    return envelope(model.model_dump_json().encode())


def decode_summary(fields: Fields) -> SessionSummary:
    return validate(_SUMMARY, payload(fields), "session summary")
