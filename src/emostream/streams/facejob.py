"""The face job: one detected face waiting for classification (ingest -> classifier, internal).

Its fields are bounded as the public event's are (a score is a probability,
a box has a size, times are not negative, every number within its range of
``streams.numbers``), so a job that decodes always makes a valid event.

Its entry on ``<prefix>:faces`` is the envelope (``v``, ``data``) plus
``crop``, the face's raw uint8 pixels; ``data`` carries ``crop_shape`` to
rebuild the array. The pixels are never base64'd or pickled.

Details at :class:`FaceJob`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Literal, get_args

import numpy as np
from pydantic import AfterValidator, TypeAdapter

from emostream.config.ids import EVENT_ID_MAX, SessionId, SourceId, shown
from emostream.streams.numbers import Channels, Coordinate, CropSide, EpochSeconds, Interval, Milliseconds, Offset, Probability, Pts, Seq, Side, TrackId
from emostream.streams.wire import Encoded, Fields, MessageError, dumps, envelope, payload, validate

Detector = Literal["yunet", "mediapipe", "blazeface", "haar"]  # the detectors ingest has; the public event's schema lists the same
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
    seq: Seq  # analysed-frame sequence number within the session
    pts: Pts  # presentation time in the source, seconds
    offset: Offset  # seconds since the session started (media time for files, wall time for live)
    interval: Interval  # seconds this analysed frame stands for, for time-weighted shares
    captured_ts: EpochSeconds  # wall clock when the frame was decoded
    width: Side
    height: Side
    track: TrackId
    box: tuple[Coordinate, Coordinate, Side, Side]  # x, y, w, h in frame pixels
    detector: DetectorName
    score: Probability
    decode_detect_ms: Milliseconds
    # Live faces: a classifier drops the face instead of classifying it once it is older than
    # this since capture (ingest.max_queue_age_ms). 0: never dropped for age (files, and jobs from older ingests).
    max_age_ms: Milliseconds = 0.0

    @property
    def event_id(self) -> str:
        """Deterministic: a replay of the same face gives the same id."""
        return f"{self.session}:{self.seq}:{self.track}"


HEADER_FIELDS = tuple(FaceJobHeader.__dataclass_fields__)


@dataclass(frozen=True)
class _WireHeader(FaceJobHeader):
    crop_shape: tuple[CropSide, CropSide, Channels] = field(kw_only=True)  # keyword-only: it follows a defaulted field


_WIRE = TypeAdapter(_WireHeader)


@dataclass(frozen=True)
class FaceJob(FaceJobHeader):
    """A face job with its crop.

    Built by ingest from values it computed itself, so construction does not
    validate (it runs once per face on the hot path); everything read from
    Redis goes through :meth:`decode`, which validates every field.

    The classifier decodes a whole batch at once (:func:`decode_batch`): each
    header is validated on its own (one strict ``validate_json`` per entry), and
    the crops of the valid ones are joined into one ``(N, H, W, C)`` array, the
    model's input, in one copy. Why not one validation call for the batch, over a
    JSON array spliced from the entries' ``data``: it is no faster (the work is the
    parsing and checking, not the call), and a hostile entry such as
    ``{"a":[{}`` could then swallow its neighbour's header into its own, so that a
    good face would be published under another face's ids. One entry, one document.
    """

    crop: np.ndarray = field(repr=False, compare=False, kw_only=True)  # uint8 (H, W, C); keyword-only, after max_age_ms

    def encode(self) -> Encoded:
        """The stream entry. The crop goes out as a view of the array's own buffer, not a copy."""
        body: dict[str, object] = {name: getattr(self, name) for name in HEADER_FIELDS}
        body["crop_shape"] = list(self.crop.shape)
        crop = self.crop if self.crop.flags.c_contiguous else np.ascontiguousarray(self.crop)
        return envelope(dumps(body), crop=memoryview(crop).cast("B"))  # type: ignore[arg-type]  # ndarray implements the buffer protocol

    @classmethod
    def decode(cls, fields: Fields) -> FaceJob:
        header, pixels = _decode(fields)
        crop = np.frombuffer(pixels, dtype=np.uint8).reshape(header.crop_shape)
        return cls(**{name: getattr(header, name) for name in HEADER_FIELDS}, crop=crop)


def _decode(fields: Fields) -> tuple[_WireHeader, bytes]:
    """The validated header and the crop's bytes, or MessageError."""
    header = validate(_WIRE, payload(fields), "face job")
    pixels = fields.get(b"crop")
    if pixels is None:
        raise MessageError("face job without a 'crop' field")
    shape = header.crop_shape
    if math.prod(shape) != len(pixels):
        raise MessageError(f"crop of {len(pixels)} bytes does not match its shape {shape}")
    if len(header.event_id) > EVENT_ID_MAX:  # the one event field that the header's own bounds do not bound
        raise MessageError(f"event id of {len(header.event_id)} characters is longer than {EVENT_ID_MAX}")
    return header, pixels


@dataclass(frozen=True)
class FaceBatch:
    """The valid jobs of a batch of entries: their headers, and all crops as one (N, H, W, C) uint8 array."""

    kept: list[int]  # index in the entries of each valid job, in order
    headers: list[FaceJobHeader]
    crops: np.ndarray
    refused: list[tuple[int, str]]  # (index, reason) of each malformed entry


def decode_batch(entries: Sequence[Fields], crop_shape: tuple[int, int, int]) -> FaceBatch:
    """Decode a batch of face-job entries; a malformed one is refused with its reason, the others kept.

    ``crop_shape`` is the model's input: a crop of another shape is refused too.
    The crops are copied once, into the batch array (a list of per-face arrays
    would be copied again by ``np.stack``).
    """
    kept: list[int] = []
    headers: list[FaceJobHeader] = []
    pixels: list[bytes] = []
    refused: list[tuple[int, str]] = []
    for index, fields in enumerate(entries):
        try:
            header, crop = _decode(fields)
            if header.crop_shape != crop_shape:
                raise MessageError(f"crop shape {header.crop_shape} does not match the model input {crop_shape}")
        except MessageError as exc:
            refused.append((index, str(exc)))
            continue
        kept.append(index)
        headers.append(header)
        pixels.append(crop)
    crops = np.frombuffer(b"".join(pixels), dtype=np.uint8).reshape(len(pixels), *crop_shape)
    return FaceBatch(kept, headers, crops, refused)
