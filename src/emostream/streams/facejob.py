"""The face job: one detected face waiting for classification (ingest -> classifier, internal).

Its fields are bounded as the public event's are (a score is a probability,
a box has a size, times are not negative), so a job that decodes always makes
a valid event.

Its entry on ``<prefix>:faces`` is the envelope (``v``, ``data``) plus
``crop``, the face's raw uint8 pixels; ``data`` carries ``crop_shape`` to
rebuild the array. The pixels are never base64'd or pickled: the classifier
gets them as a read-only view of the bytes Redis returned.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Annotated, Literal, get_args

import numpy as np
from pydantic import AfterValidator, TypeAdapter

from emostream.streams.ids import SessionId, SourceId, shown
from emostream.streams.numbers import Count, EpochSeconds, Finite, NonNegative, Positive, Probability
from emostream.streams.wire import Encoded, Fields, MessageError, dumps, envelope, payload, validate

Detector = Literal["mediapipe", "haar"]  # the detectors ingest has; the public event's schema lists the same
DETECTORS = get_args(Detector)


def _known_detector(name: str) -> str:
    if name not in DETECTORS:
        raise ValueError(f"unknown detector {shown(name, 20)}")
    return name


# A str to the type checker (ingest passes its detector's name), one of DETECTORS once decoded.
DetectorName = Annotated[str, AfterValidator(_known_detector)]


@dataclass(frozen=True)
class FaceJobHeader:
    """Everything about the face except its pixels: the JSON ``data`` of the entry."""

    source: SourceId
    session: SessionId
    seq: Count  # analysed-frame sequence number within the session
    pts: Finite  # presentation time in the source, seconds
    offset: NonNegative  # seconds since the session started (media time for files, wall time for live)
    interval: NonNegative  # seconds this analysed frame stands for, for time-weighted shares
    captured_ts: EpochSeconds  # wall clock when the frame was decoded
    width: Positive
    height: Positive
    track: Count
    box: tuple[int, int, Positive, Positive]  # x, y, w, h in frame pixels
    detector: DetectorName
    score: Probability
    decode_detect_ms: NonNegative
    # Live faces: a classifier drops the face instead of classifying it once it is older than
    # this since capture (ingest.max_queue_age_ms). 0: never dropped for age (files, and jobs from older ingests).
    max_age_ms: NonNegative = 0.0


HEADER_FIELDS = tuple(FaceJobHeader.__dataclass_fields__)


@dataclass(frozen=True)
class _WireHeader(FaceJobHeader):
    crop_shape: tuple[Positive, Positive, Positive] = field(kw_only=True)  # keyword-only: it follows a defaulted field


_WIRE = TypeAdapter(_WireHeader)


@dataclass(frozen=True)
class FaceJob(FaceJobHeader):
    """A face job with its crop.

    Built by ingest from values it computed itself, so construction does not
    validate (it runs once per face on the hot path); everything read from
    Redis goes through :meth:`decode`, which validates every field.
    """

    crop: np.ndarray = field(repr=False, compare=False, kw_only=True)  # uint8 (H, W, C); keyword-only, after max_age_ms

    @property
    def event_id(self) -> str:
        """Deterministic: a replay of the same face gives the same id."""
        return f"{self.session}:{self.seq}:{self.track}"

    def encode(self) -> Encoded:
        """The stream entry. The crop goes out as a view of the array's own buffer, not a copy."""
        body: dict[str, object] = {name: getattr(self, name) for name in HEADER_FIELDS}
        body["crop_shape"] = list(self.crop.shape)
        crop = self.crop if self.crop.flags.c_contiguous else np.ascontiguousarray(self.crop)
        return envelope(dumps(body), crop=memoryview(crop).cast("B"))  # type: ignore[arg-type]  # ndarray implements the buffer protocol

    @classmethod
    def decode(cls, fields: Fields) -> FaceJob:
        header = validate(_WIRE, payload(fields), "face job")
        pixels = fields.get(b"crop")
        if pixels is None:
            raise MessageError("face job without a 'crop' field")
        shape = header.crop_shape
        if math.prod(shape) != len(pixels):
            raise MessageError(f"crop of {len(pixels)} bytes does not match its shape {shape}")
        crop = np.frombuffer(pixels, dtype=np.uint8).reshape(shape)
        return cls(**{name: getattr(header, name) for name in HEADER_FIELDS}, crop=crop)
