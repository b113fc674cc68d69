"""The tracker's state in a checkpoint: exact, JSON-safe, and readable from older checkpoints.

Older checkpoints knew nothing of confirmation: their tracks were all
published, so a track without ``confirmed`` is confirmed, and one without
``next_tentative`` starts provisional ids afresh at -1. The oldest held
position-only tracks as ``[id, box, missed, hits]``. Descriptors written by
another version of the appearance descriptor (``descriptor`` differs or is
missing) are not comparable with today's: they are dropped, so those tracks
continue by motion and learn their looks again, and those who left cannot be
re-identified.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from emostream.ingest.tracking import appearance
from emostream.ingest.tracking.codec import pack, unpack
from emostream.ingest.tracking.geometry import Box
from emostream.ingest.tracking.track import Gone, Observation, Track


@dataclass
class Saved:
    next_id: int
    next_tentative: int
    tracks: list[Track]
    gone: list[Gone]


def _feature(f: np.ndarray | None) -> str | None:
    return None if f is None else pack(f.astype(np.float32))


def encode(saved: Saved) -> dict[str, Any]:
    return {
        "descriptor": appearance.VERSION,
        "next_id": saved.next_id,
        "next_tentative": saved.next_tentative,
        "tracks": [
            {"id": t.id, "box": list(t.box), "missed": t.missed, "hits": t.hits, "seen_s": t.seen_s,
             "motion": pack(t.motion.astype(np.float64)), "feature": _feature(t.feature), "reid_open": t.reid_open,
             "confirmed": t.confirmed, "last": _feature(t.last), "clear_size": t.clear_size, "checks": t.checks, "next_check": t.next_check,
             "low_checks": t.low_checks, "next_low": t.next_low}
            for t in saved.tracks
        ],
        "gone": [{"id": g.id, "seen_s": g.seen_s, "feature": _feature(g.feature)} for g in saved.gone],
    }


def decode(state: dict[str, Any]) -> Saved:
    dims = (appearance.DIMENSIONS,)
    comparable = state.get("descriptor") == appearance.VERSION

    def feature(item: dict[str, Any], key: str) -> np.ndarray | None:
        return unpack(item[key], np.float32, dims) if comparable and item.get(key) is not None else None

    tracks: list[Track] = []
    for item in state["tracks"]:
        if isinstance(item, list):  # [id, box, missed, hits]: a checkpoint from before appearance
            track_id, box, missed, hits = item
            t = Track.start(int(track_id), Observation(_box(box), None), 0.0)
            t.missed, t.hits = int(missed), int(hits)
        else:
            template, last = feature(item, "feature"), feature(item, "last")
            t = Track(int(item["id"]), unpack(item["motion"], np.float64, (5, 4)), _box(item["box"]), template,
                      float(item["seen_s"]), int(item["missed"]), int(item["hits"]), reid_open=bool(item.get("reid_open", False)),
                      confirmed=bool(item.get("confirmed", True)), last=last if last is not None else template,
                      clear_size=float(item.get("clear_size", 0.0)), checks=int(item.get("checks", 0)), next_check=int(item.get("next_check", 0)),
                      low_checks=int(item.get("low_checks", 0)), next_low=int(item.get("next_low", 0)))
        tracks.append(t)
    gone = [Gone(int(g["id"]), unpack(g["feature"], np.float32, dims), float(g["seen_s"])) for g in state.get("gone", []) if comparable]
    return Saved(int(state["next_id"]), int(state.get("next_tentative", -1)), tracks, gone)


def _box(values: Any) -> Box:
    x, y, w, h = (int(v) for v in values)
    return x, y, w, h
