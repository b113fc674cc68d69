"""The classifier's fast path to event JSON: a batch of events formatted without a model per event.

:func:`~emostream.streams.events.build_event` validates each event it builds
with pydantic, about 10 µs a face: as much as a replica's whole budget at
25,000 faces/s. Here the inputs are checked once per batch instead, and each
event is formatted as text:

- every header came through :func:`~emostream.streams.facejob.decode_batch`,
  which validated it strictly with bounds that make each event field valid
  (ids follow ``streams.ids``, so they need no JSON escaping; numbers are
  finite and in range; the event id is checked for length there too);
- the probabilities are checked for the whole batch at once (shape, finite,
  within [0, 1] after rounding); a batch that fails raises, as a failed
  validation did;
- the model's name and version are the only free text, JSON-encoded once.

Numbers are written with ``repr``, which for a finite float is valid JSON and
reads back as the same float. The result is the document ``build_event``
makes, field for field (``tests/streams/test_eventjson.py`` checks it against
``build_event``, the model and the JSON Schema on generated jobs).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np

from emostream.emotions import EMOTIONS
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


def format_events(
    headers: Sequence[FaceJobHeader],
    probabilities: np.ndarray,
    model_name: str,
    model_version: str,
    taken_ts: float,
    inference_ms: float,
    published_ts: float,
) -> list[bytes]:
    """The JSON document of each face's event, in order (the envelope's ``data``)."""
    rounded = rounded_probabilities(probabilities)
    if len(rounded) != len(headers):
        raise ValueError(f"{len(headers)} faces but {len(rounded)} rows of probabilities")
    best = probabilities.argmax(axis=1).tolist()
    model = json.dumps({"name": model_name, "version": model_version}, separators=(",", ":"))
    published_at = utc_iso(published_ts)
    inference = round(inference_ms, 2)
    stamps: dict[float, str] = {}  # the faces of one frame share their capture time
    out = []
    for h, probs, top in zip(headers, rounded.tolist(), best, strict=True):
        captured_at = stamps.get(h.captured_ts)
        if captured_at is None:
            captured_at = stamps[h.captured_ts] = utc_iso(h.captured_ts)
        x, y, w, hh = h.box
        angry, disgust, fear, happy, sad, surprise, neutral = probs
        out.append(
            (
                f'{{"event_id":"{h.session}:{h.seq}:{h.track}","source":"{h.source}","session":"{h.session}",'
                f'"frame":{{"seq":{h.seq},"pts":{round(h.pts, 4)!r},"offset_s":{round(h.offset, 4)!r},'
                f'"interval_s":{round(h.interval, 4)!r},"captured_at":"{captured_at}","width":{h.width},"height":{h.height}}},'
                f'"face":{{"track_id":{h.track},"box":{{"x":{x},"y":{y},"w":{w},"h":{hh}}},"detector":"{h.detector}",'
                f'"score":{round(h.score, 4)!r}}},'
                f'"emotion":{{"label":"{EMOTIONS[top]}","confidence":{probs[top]!r},"probabilities":{{"angry":{angry!r},'
                f'"disgust":{disgust!r},"fear":{fear!r},"happy":{happy!r},"sad":{sad!r},"surprise":{surprise!r},'
                f'"neutral":{neutral!r}}}}},'
                f'"model":{model},'
                f'"latency_ms":{{"decode_detect":{round(h.decode_detect_ms, 2)!r},"queue":{round(queue_ms(h, taken_ts), 2)!r},'
                f'"inference":{inference!r},"capture_to_publish":{round(max(0.0, published_ts - h.captured_ts) * 1000.0, 2)!r}}},'
                f'"published_at":"{published_at}"}}'
            ).encode()
        )
    return out
