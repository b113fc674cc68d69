"""Every message that crosses Redis, with its (de)serialisation.

A stream entry is a flat hash: ``v`` (schema version), ``data`` (a JSON object)
and, for face jobs only, ``crop`` (raw pixels). Nothing is pickled. Decoding
checks the version and the shape of the payload and raises
:class:`MessageError` with a reason that goes to the dead-letter stream.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from dataclasses import fields as fields_of
from datetime import UTC, datetime
from typing import Any

import numpy as np

from emostream.emotions import EMOTIONS
from emostream.keys import SCHEMA_VERSION

Fields = dict[bytes, bytes]


class MessageError(ValueError):
    """A stream entry that is not a valid message of ours."""


def utc_iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _payload(fields: Fields) -> dict[str, Any]:
    version = fields.get(b"v")
    if version is None:
        raise MessageError("no schema version field 'v'")
    if version != SCHEMA_VERSION.encode():
        raise MessageError(f"unsupported schema version {version[:16]!r}")
    raw = fields.get(b"data")
    if raw is None:
        raise MessageError("no 'data' field")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # also bad UTF-8, over-long integers, absurd nesting
        raise MessageError(f"'data' is not JSON: {str(exc)[:200]}") from None
    if not isinstance(data, dict):
        raise MessageError("'data' is not a JSON object")
    return data


def _dumps(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


@dataclass(frozen=True)
class FaceJob:
    """One detected face waiting for classification (ingest -> classifier, internal)."""

    source: str
    session: str
    seq: int  # analysed-frame sequence number within the session
    pts: float  # presentation time in the source, seconds
    offset: float  # seconds since the session started (media time for files, wall time for live)
    interval: float  # seconds this analysed frame stands for, for time-weighted shares
    captured_ts: float  # wall clock when the frame was decoded, seconds since the epoch
    width: int
    height: int
    track: int
    box: tuple[int, int, int, int]  # x, y, w, h in frame pixels
    detector: str
    score: float
    decode_detect_ms: float
    crop: np.ndarray = field(repr=False, compare=False)  # uint8 (H, W, C)
    # Live faces: a classifier drops the face instead of classifying it once it is older than
    # this since capture (ingest.max_queue_age_ms). 0: never dropped for age (files).
    max_age_ms: float = 0.0

    @property
    def event_id(self) -> str:
        """Deterministic: a replay of the same face gives the same id."""
        return f"{self.session}:{self.seq}:{self.track}"

    def encode(self) -> dict[str, bytes | str]:
        body = {k: v for k, v in asdict(self).items() if k != "crop"}
        body["crop_shape"] = list(self.crop.shape)
        return {"v": SCHEMA_VERSION, "data": _dumps(body), "crop": self.crop.tobytes()}

    @classmethod
    def decode(cls, fields: Fields) -> FaceJob:
        data = _payload(fields)
        raw = fields.get(b"crop")
        if raw is None:
            raise MessageError("face job without a 'crop' field")
        try:
            shape = tuple(int(n) for n in data.pop("crop_shape"))
            if len(shape) != 3 or min(shape) < 1 or math.prod(shape) != len(raw):
                raise MessageError(f"crop of {len(raw)} bytes does not match its shape {str(shape)[:80]}")
            crop = np.frombuffer(raw, dtype=np.uint8).reshape(shape)
            box = tuple(int(n) for n in data.pop("box"))
            if len(box) != 4:
                raise MessageError("box must have 4 numbers")
            return cls(
                source=str(data["source"]),
                session=str(data["session"]),
                seq=int(data["seq"]),
                pts=_finite(data, "pts"),
                offset=_finite(data, "offset"),
                interval=_finite(data, "interval"),
                captured_ts=_finite(data, "captured_ts"),
                width=int(data["width"]),
                height=int(data["height"]),
                track=int(data["track"]),
                box=box,
                detector=str(data["detector"]),
                score=_finite(data, "score"),
                decode_detect_ms=_finite(data, "decode_detect_ms"),
                crop=crop,
                max_age_ms=_finite(data, "max_age_ms") if "max_age_ms" in data else 0.0,  # absent in jobs from older ingests
            )
        except MessageError:
            raise
        except (KeyError, TypeError, ValueError, OverflowError) as exc:  # OverflowError: int(Infinity)
            raise MessageError(f"malformed face job: {str(exc)[:200]}") from None


def build_event(
    job: FaceJob,
    probabilities: np.ndarray,
    model_name: str,
    model_version: str,
    queue_ms: float,
    inference_ms: float,
    published_ts: float,
) -> dict[str, Any]:
    """The public emotion event (schema ``event.v1.json``) for one classified face."""
    best = int(np.argmax(probabilities))
    x, y, w, h = job.box
    return {
        "event_id": job.event_id,
        "source": job.source,
        "session": job.session,
        "frame": {
            "seq": job.seq,
            "pts": round(job.pts, 4),
            "offset_s": round(job.offset, 4),
            "interval_s": round(job.interval, 4),
            "captured_at": utc_iso(job.captured_ts),
            "width": job.width,
            "height": job.height,
        },
        "face": {
            "track_id": job.track,
            "box": {"x": x, "y": y, "w": w, "h": h},
            "detector": job.detector,
            "score": round(job.score, 4),
        },
        "emotion": {
            "label": EMOTIONS[best],
            "confidence": round(float(probabilities[best]), 4),
            "probabilities": {e: round(float(p), 4) for e, p in zip(EMOTIONS, probabilities, strict=True)},
        },
        "model": {"name": model_name, "version": model_version},
        "latency_ms": {
            "decode_detect": round(job.decode_detect_ms, 2),
            "queue": round(queue_ms, 2),
            "inference": round(inference_ms, 2),
            "capture_to_publish": round((published_ts - job.captured_ts) * 1000.0, 2),
        },
        "published_at": utc_iso(published_ts),
    }


def encode_event(event: dict[str, Any]) -> dict[str, bytes | str]:
    return {"v": SCHEMA_VERSION, "data": _dumps(event)}


def decode_event(fields: Fields) -> dict[str, Any]:
    data = _payload(fields)
    for key in ("event_id", "source", "session", "frame", "face", "emotion"):
        if key not in data:
            raise MessageError(f"event without {key!r}")
    return data


@dataclass(frozen=True)
class SessionStart:
    source: str
    session: str
    started_ts: float
    url: str  # redacted

    kind = "start"


@dataclass(frozen=True)
class SessionEnd:
    """A source's session ended; its counts let the aggregator know when every event is in."""

    source: str
    session: str
    started_ts: float
    ended_ts: float
    reason: str  # "eof", "stopped", "timeout", "error"
    frames_analysed: int
    frames_dropped: int  # not analysed because the classifiers were behind (backpressure)
    frames_failed: int
    faces: int  # face jobs published, i.e. events to expect
    faces_skipped: int  # too small to classify
    frames_skipped: int = 0  # not analysed by design: a live source delivers more than its fps
    frames_dropped_age: int = 0  # of frames_dropped: the faces queue was older than ingest.max_queue_age_ms

    kind = "end"


@dataclass(frozen=True)
class FacesDropped:
    """Live faces a classifier dropped instead of classifying, because they were too old to be worth it.

    Published by the classifier on the lifecycle stream in the same MULTI that
    acknowledges the faces, so a face is either an event or a drop, never both
    and never neither. The aggregator counts the ids once each (in the same
    "seen" set as events), so a session's events plus its dropped faces add up
    to the faces ingest announced, and it need not wait for faces that will
    never be events.
    """

    source: str
    session: str
    reason: str  # "age"
    event_ids: tuple[str, ...]  # the ids the faces' events would have had

    kind = "dropped"


LifecycleMessage = SessionStart | SessionEnd | FacesDropped


def encode_lifecycle(message: LifecycleMessage) -> dict[str, bytes | str]:
    return {"v": SCHEMA_VERSION, "type": message.kind, "data": _dumps(asdict(message))}


def decode_lifecycle(fields: Fields) -> LifecycleMessage:
    data = _payload(fields)
    kind = fields.get(b"type", b"").decode(errors="replace")
    cls = {"start": SessionStart, "end": SessionEnd, "dropped": FacesDropped}.get(kind)
    if cls is None:
        raise MessageError(f"unknown lifecycle message type {kind!r}")
    try:
        return cls(**_typed(cls, data, kind))  # type: ignore[no-any-return]
    except TypeError as exc:
        raise MessageError(f"malformed {kind} message: {exc}") from None


def _finite(data: dict[str, Any], key: str) -> float:
    value = float(data[key])
    if not math.isfinite(value):
        raise MessageError(f"{key} is not a finite number")
    return value


def _typed(cls: type, data: dict[str, Any], kind: str) -> dict[str, Any]:
    """``data`` checked against the field types of the dataclass ``cls`` (ints may stand for floats).

    The aggregator writes these values into Redis and does arithmetic on them, so a
    string where a count belongs must be refused here, not fail later in a batch.
    """
    types = {f.name: f.type for f in fields_of(cls)}
    out = dict(data)
    for name, value in data.items():
        wanted = types.get(name)  # unknown names: the constructor raises TypeError
        if wanted == "str" and not isinstance(value, str):
            raise MessageError(f"malformed {kind} message: {name} is not a string")
        if wanted == "int" and (isinstance(value, bool) or not isinstance(value, int)):
            raise MessageError(f"malformed {kind} message: {name} is not an integer")
        if wanted == "tuple[str, ...]":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise MessageError(f"malformed {kind} message: {name} is not a list of strings")
            out[name] = tuple(value)
        if wanted == "float":
            try:
                number = math.nan if isinstance(value, bool) or not isinstance(value, int | float) else float(value)
            except OverflowError:  # an integer beyond float range
                number = math.inf
            if not math.isfinite(number):
                raise MessageError(f"malformed {kind} message: {name} is not a finite number")
            out[name] = number
    return out


TRACK_TYPES = ("new", "update", "end")


def encode_track(body: dict[str, Any]) -> dict[str, bytes | str]:
    """A track event (``<prefix>:tracks:<source>``): ``type`` is repeated outside ``data`` for cheap filtering."""
    return {"v": SCHEMA_VERSION, "type": body["type"], "data": _dumps(body)}


def decode_track(fields: Fields) -> dict[str, Any]:
    data = _payload(fields)
    if data.get("type") not in TRACK_TYPES:
        raise MessageError(f"unknown track event type {str(data.get('type'))[:16]!r}")
    for key in ("id", "source", "session", "track_id", "after"):
        if key not in data:
            raise MessageError(f"track event without {key!r}")
    return data


def encode_summary(summary: dict[str, Any]) -> dict[str, bytes | str]:
    return {"v": SCHEMA_VERSION, "data": _dumps(summary)}


def decode_summary(fields: Fields) -> dict[str, Any]:
    return _payload(fields)


def dead_letter_fields(
    stream: str, entry_id: bytes, fields: Fields, reason: str, consumer: str, keep_pixels: bool = False
) -> dict[str, Any]:
    """A dead letter: the original entry plus where it came from and why it failed.

    Face pixels are dropped (only their size is kept) unless ``keep_pixels``:
    the dead-letter stream has no expiry, and face images are stored only when
    a user asks for it (``classifier.deadletter_pixels``).
    """
    out: dict[str, Any] = {}
    for key, value in fields.items():
        name = key.decode(errors="replace")
        if name == "crop" and not keep_pixels:
            out["orig:crop_bytes"] = str(len(value))
        else:
            out[f"orig:{name}"] = value
    out.update(stream=stream, id=entry_id, reason=reason, consumer=consumer, at=f"{time.time():.3f}")
    return out
