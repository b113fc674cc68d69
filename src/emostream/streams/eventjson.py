"""The classifier's fast path to event JSON: a batch of events formatted without a model per event.

Details at :func:`format_events`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np

from emostream.infra.emotions import EMOTIONS
from emostream.streams.facejob import FaceJobHeader
from emostream.streams.wire import utc_iso


def rounded_probabilities(probabilities: np.ndarray) -> np.ndarray:
    """(N, 7) probabilities as float64 rounded to 4 decimals, checked; ValueError if a model gave bad ones."""
    if probabilities.ndim != 2 or probabilities.shape[1] != len(EMOTIONS):
        raise ValueError(f"the model gave probabilities of shape {probabilities.shape}, not (N, {len(EMOTIONS)})")
    rounded = np.round(probabilities.astype(np.float64), 4)
    if not np.isfinite(rounded).all() or (rounded < 0).any() or (rounded > 1).any():
        raise ValueError("the model gave probabilities that are not finite or not within [0, 1]")
    return rounded


def queue_ms(header: FaceJobHeader, taken_ts: float) -> float:
    """From publication of the face job until the classifier took it: the wait since capture less ingest's own work."""
    return max(0.0, (taken_ts - header.captured_ts) * 1000.0 - header.decode_detect_ms)


# One %-format per event: a single C call, faster than an f-string of the same fields. Every float
# is printed rounded as build_event rounds it (%.4f, %.2f: correctly rounded, like round()), so the
# number read back is the same float; only trailing zeros may differ from build_event's text.
TEMPLATE = (
    '{"event_id":"%s:%d:%d","source":"%s","session":"%s",'
    '"frame":{"seq":%d,"pts":%.4f,"offset_s":%.4f,"interval_s":%.4f,"captured_at":"%s","width":%d,"height":%d},'
    '"face":{"track_id":%d,"box":{"x":%d,"y":%d,"w":%d,"h":%d},"detector":"%s","score":%.4f},'
    '"emotion":{"label":"%s","confidence":%.4f,"probabilities":{'
    + ",".join(f'"{name}":%.4f' for name in EMOTIONS)
    + "}},"
    '"model":%s,'
    '"latency_ms":{"decode_detect":%.2f,"queue":%.2f,"inference":%.2f,"capture_to_publish":%.2f},'
    '"published_at":"%s"}'
)


def format_events(
    headers: Sequence[FaceJobHeader],
    probabilities: np.ndarray,
    model_name: str,
    model_version: str,
    taken_ts: float,
    inference_ms: float,
    published_ts: float,
) -> list[bytes]:
    """The JSON document of each face's event, in order (the envelope's ``data``).

    :func:`~emostream.streams.events.build_event` validates each event it builds
    with pydantic, about 10 µs a face: as much as a replica's whole budget at
    25,000 faces/s. Here the inputs are checked once per batch instead, and each
    event is formatted as text:

    - every header came through :func:`~emostream.streams.facejob.decode_batch`,
      which validated it strictly with bounds that make each event field valid
      (ids follow ``config.ids``, so they need no JSON escaping; numbers are
      finite and in range; the event id is checked for length there too);
    - the probabilities are checked for the whole batch at once (shape, finite,
      within [0, 1] after rounding); a batch that fails raises, as a failed
      validation did;
    - the model's name and version are the only free text, JSON-encoded once.

    Numbers are written rounded with ``%.4f`` / ``%.2f``, as ``build_event``
    rounds them; that text is valid JSON for any finite float and reads back as
    the float ``round`` gives. The result is the document ``build_event``
    makes, field for field (``tests/property/test_message_properties.py`` checks it against
    ``build_event``, the model and the JSON Schema on generated jobs).
    """
    rounded = rounded_probabilities(probabilities)
    if len(rounded) != len(headers):
        raise ValueError(f"{len(headers)} faces but {len(rounded)} rows of probabilities")
    best = probabilities.argmax(axis=1).tolist()
    model = json.dumps({"name": model_name, "version": model_version}, separators=(",", ":"))
    published_at = utc_iso(published_ts)
    stamps: dict[float, str] = {}  # the faces of one frame share their capture time
    out = []
    for h, probs, top in zip(headers, rounded.tolist(), best, strict=True):
        captured_at = stamps.get(h.captured_ts)
        if captured_at is None:
            captured_at = stamps[h.captured_ts] = utc_iso(h.captured_ts)
        values = (
            h.session, h.seq, h.track, h.source, h.session,
            h.seq, h.pts, h.offset, h.interval, captured_at, h.width, h.height,
            h.track, *h.box, h.detector, h.score,
            EMOTIONS[top], probs[top], *probs,
            model,
            h.decode_detect_ms, queue_ms(h, taken_ts), inference_ms, max(0.0, published_ts - h.captured_ts) * 1000.0,
            published_at,
        )  # fmt: skip
        out.append((TEMPLATE % values).encode())
    return out
