"""The public emotion event: one classified face on ``<prefix>:events:<source>``.

:class:`EmotionEvent` is the contract of docs/events.md: the classifier builds
it, the aggregator and the subscriber read it, and the JSON Schema
``schemas/event.v1.json`` is generated from it (``streams.schema``), so the
three can never disagree.

Reading is tolerant where the docs promise it (fields a newer producer added
are ignored) and strict everywhere else: ids follow ``config.ids``, numbers
are finite and in range, the label is one of the seven classes.
"""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from emostream.config.ids import EventId, SessionId, SourceId
from emostream.infra.emotions import EMOTIONS, Emotion
from emostream.streams.eventjson import rounded_probabilities
from emostream.streams.facejob import Detector, FaceJob
from emostream.streams.numbers import Coordinate, Interval, Milliseconds, Offset, Probability, Pts, Seq, Side, TrackId, WaitMilliseconds
from emostream.streams.wire import Encoded, Fields, envelope, payload, utc_iso, validate

Timestamp = Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")]


class Part(BaseModel):
    """Frozen. Fields a newer producer added within the version are kept as they are (never an error)."""

    model_config = ConfigDict(frozen=True, extra="allow")


class Frame(Part):
    seq: Seq = Field(description="Analysed-frame sequence number within the session.")
    pts: Pts = Field(description="Presentation time in the source, seconds.")
    offset_s: Offset = Field(
        description="Seconds since the session started: media time for files, wall-clock time for live sources."
    )
    interval_s: Interval = Field(
        description="Seconds of the session this analysed frame stands for (time since the previous analysed frame); "
        "the weight for time-weighted shares."
    )
    captured_at: Timestamp = Field(description="Wall-clock time the frame was decoded (UTC).")
    width: Side
    height: Side


class Box(Part):
    x: Coordinate
    y: Coordinate
    w: Side
    h: Side


class Face(Part):
    track_id: TrackId = Field(description="Stable id of the face within the session.")
    box: Box
    detector: Detector
    score: Probability


class Probabilities(Part):
    angry: Probability
    disgust: Probability
    fear: Probability
    happy: Probability
    sad: Probability
    surprise: Probability
    neutral: Probability


class EmotionScores(Part):
    label: Emotion
    confidence: Probability
    probabilities: Probabilities


class ModelRef(Part):
    name: str = Field(max_length=128)
    version: str = Field(max_length=128)


class Latency(Part):
    decode_detect: Milliseconds = Field(description="Decoding, detection and cropping of the frame.")
    queue: WaitMilliseconds = Field(description="From publication of the face job until the classifier took it.")
    inference: Milliseconds = Field(description="The batched forward pass the face was part of.")
    capture_to_publish: WaitMilliseconds = Field(description="From frame decode to event publication.")


class EmotionEvent(Part):
    """One classified face in one analysed frame (schema version 1)."""

    model_config = ConfigDict(
        frozen=True,
        extra="allow",
        title="emostream emotion event, version 1",
        json_schema_extra={
            "description": "One classified face in one analysed frame. Published on <prefix>:events:<source> as the JSON value "
            "of the field 'data'; the field 'v' holds the schema version \"1\"."
        },
    )

    event_id: EventId = Field(
        description="Deterministic id '<session>:<frame seq>:<track id>'; a consumer that sees it twice can drop the duplicate."
    )
    source: SourceId = Field(description="Source id from the configuration.")
    session: SessionId = Field(description="Id of the source's current session.")
    frame: Frame
    face: Face
    emotion: EmotionScores
    model: ModelRef
    latency_ms: Latency
    published_at: Timestamp

    # Shortcuts for the fields most readers want (documented in docs/subscribing.md).
    @property
    def track_id(self) -> int:
        return self.face.track_id

    @property
    def label(self) -> str:
        return self.emotion.label

    @property
    def confidence(self) -> float:
        return self.emotion.confidence

    @property
    def probabilities(self) -> dict[str, float]:
        """The seven probabilities, in EMOTIONS order."""
        return self.emotion.probabilities.model_dump()

    @property
    def offset_s(self) -> float:
        return self.frame.offset_s

    def to_dict(self) -> dict[str, Any]:
        """The JSON document, as published."""
        return self.model_dump(mode="json")


_EVENT = TypeAdapter(EmotionEvent)


def build_event(
    job: FaceJob,
    probabilities: np.ndarray,
    model_name: str,
    model_version: str,
    queue_ms: float,
    inference_ms: float,
    published_ts: float,
) -> EmotionEvent:
    """The public emotion event for one classified face, validated like every event that is read.

    Built as a plain dict and validated in one call: pydantic's validator runs
    in Rust and is several times faster than assembling the nested models one
    by one. The classifier formats its events in batches without a model per
    event (``streams.eventjson``), checked against this function.
    """
    best = int(np.argmax(probabilities))
    x, y, w, h = job.box
    probs = rounded_probabilities(probabilities.reshape(1, -1))[0].tolist()
    return EmotionEvent.model_validate(
        {
            "event_id": job.event_id,
            "source": job.source,
            "session": job.session,
            "frame": {
                "seq": job.seq, "pts": round(job.pts, 4), "offset_s": round(job.offset, 4), "interval_s": round(job.interval, 4),
                "captured_at": utc_iso(job.captured_ts), "width": job.width, "height": job.height,
            },
            "face": {"track_id": job.track, "box": {"x": x, "y": y, "w": w, "h": h}, "detector": job.detector, "score": round(job.score, 4)},
            "emotion": {"label": EMOTIONS[best], "confidence": probs[best], "probabilities": dict(zip(EMOTIONS, probs, strict=True))},
            "model": {"name": model_name, "version": model_version},
            "latency_ms": {
                "decode_detect": round(job.decode_detect_ms, 2),
                "queue": round(max(0.0, queue_ms), 2),
                "inference": round(inference_ms, 2),
                # Ingest and classifier may run on hosts whose clocks differ a little: never below zero.
                "capture_to_publish": round(max(0.0, published_ts - job.captured_ts) * 1000.0, 2),
            },
            "published_at": utc_iso(published_ts),
        }
    )


def encode_event(event: EmotionEvent) -> Encoded:
    return envelope(event.model_dump_json().encode())


def decode_event(fields: Fields) -> EmotionEvent:
    return validate(_EVENT, payload(fields), "event")


def event_from_json(data: bytes | str) -> EmotionEvent:
    """An event from its JSON document alone (no envelope), validated like :func:`decode_event`."""
    return validate(_EVENT, data if isinstance(data, bytes) else data.encode(), "event")

