"""Building sessions of emotion events on a real Redis, and driving an aggregator step by step."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import redis

from emostream.aggregator.worker import AggregatorWorker
from emostream.config import Config
from emostream.infra.emotions import EMOTIONS
from emostream.streams.events import EmotionEvent, build_event, encode_event
from emostream.streams.keys import Keys
from emostream.streams.lifecycle import SessionEnd, SessionStart, encode_lifecycle
from tests.helpers import Ticks, face_job, wait_for


def event(
    session: str, seq: int, track: int, label: str, confidence: float = 0.8, source: str = "cam1", fps: float = 10.0
) -> EmotionEvent:
    """The public event of one face: ``label`` with ``confidence``, the rest spread evenly."""
    probs = np.full(len(EMOTIONS), (1.0 - confidence) / (len(EMOTIONS) - 1), np.float32)
    probs[EMOTIONS.index(label)] = confidence
    job = face_job(source=source, session=session, seq=seq, track=track, pts=seq / fps, offset=seq / fps, interval=1 / fps)
    return build_event(job, probs, "m", "1", 1.0, 2.0, time.time())


def start(rclient: redis.Redis, keys: Keys, session: str, source: str = "cam1") -> None:
    rclient.sadd(keys.sources, source)
    rclient.xadd(keys.lifecycle, encode_lifecycle(SessionStart(source, session, time.time(), f"{source}.mp4")))


def publish(rclient: redis.Redis, keys: Keys, events: list[EmotionEvent]) -> None:
    pipe = rclient.pipeline()
    for e in events:
        pipe.xadd(keys.events(e.source), encode_event(e))
    pipe.execute()


def end(rclient: redis.Redis, keys: Keys, session: str, faces: int, frames: int, source: str = "cam1") -> None:
    now = time.time()
    rclient.xadd(keys.lifecycle, encode_lifecycle(SessionEnd(source, session, now - 10, now, "eof", frames, 1, 0, faces, 0)))


def track_events(rclient: redis.Redis, keys: Keys, source: str = "cam1") -> list[dict[str, Any]]:
    return [json.loads(fields[b"data"]) for _, fields in rclient.xrange(keys.tracks(source))]


def stored_summary(rclient: redis.Redis, keys: Keys, session: str) -> dict[str, Any] | None:
    raw = rclient.get(keys.session(session))
    return json.loads(raw) if raw else None


def stepped(config: Config, ticks: Callable[[], float] | None = None, **options: Any) -> AggregatorWorker:
    """An aggregator for a test to drive with :func:`step`: unless ``ticks`` says otherwise, its periodic chores
    (lease round, track expiry) are due at every step, so what a step does does not depend on the test's speed."""
    return AggregatorWorker(config, ticks=ticks or Ticks(), **options)


def step(worker: AggregatorWorker, times: int = 1) -> None:
    for _ in range(times):
        worker.step()


def run_until_summary(worker: AggregatorWorker, rclient: redis.Redis, session: str, timeout: float = 20) -> dict[str, Any]:
    def summary() -> dict[str, Any] | None:
        step(worker)
        return stored_summary(rclient, worker.keys, session)

    return wait_for(summary, timeout, f"no summary for {session}", interval=0.0)


def comparable(events: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Track events in track order: how the events of different tracks interleave may differ between runs."""
    ordered = sorted(events, key=lambda e: (e["session"], e["track_id"], int(e["id"].rsplit(":", 1)[1])))
    return [
        (e["id"], e["type"], e["reason"], json.dumps(e["before"], sort_keys=True), json.dumps(e["after"], sort_keys=True)) for e in ordered
    ]
