"""Reading the public streams as a subscriber: ``emostream events --follow`` and the live view of ``emostream run``.

Plain ``XREAD``, no consumer group, so following never takes events away
from the aggregator. Sources are found as the Python subscriber finds them
(``streams.discovery``), and every entry is validated as an
:class:`~emostream.streams.events.EmotionEvent`; one that is not is skipped.

A lost connection is ridden out, as the workers do: the reader logs once,
keeps its place in every stream, retries with capped exponential backoff and
meanwhile yields None, so ``emostream run`` keeps watching its workers (and
Ctrl-C) during a Redis restart instead of tearing the pipeline down.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import redis

from emostream.infra.redact import redact
from emostream.streams.connection import RETRYABLE
from emostream.streams.discovery import SourceStreams
from emostream.streams.events import decode_event
from emostream.streams.keys import Keys
from emostream.streams.wire import MessageError
from emostream.streams.xread import xread_streams

log = logging.getLogger(__name__)


def follow_events(
    client: redis.Redis,
    keys: Keys,
    sources: list[str] | None = None,
    from_start: bool = False,
    block_ms: int = 500,
    stop: Callable[[], bool] | None = None,
    since_ms: int | None = None,
    reconnect_cap_s: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[dict[str, Any] | None]:
    """Yield the events (JSON documents, validated) as they arrive on every (or the given) source's stream.

    Yields None after each idle ``block_ms``, and after each failed attempt
    while Redis is unreachable, so a caller can redraw or stop. New sources are
    picked up as they register; those found after the start are read from
    their beginning (or from ``since_ms``).
    """
    streams = SourceStreams(client, keys, keys.events, sources)
    positions: dict[str, str] = {}
    later = f"{since_ms}-0" if since_ms is not None else "0"
    start = later if since_ms is not None or from_start else "$"
    delay, down_since = 0.1, None
    while stop is None or not stop():
        try:
            for stream in streams.new():
                positions[stream] = start
            start = later
            reply: Any = xread_streams(client, positions, 500, block_ms) if positions else None
        except RETRYABLE as exc:
            if down_since is None:
                down_since = time.monotonic()
                log.warning("events: lost Redis (%s); retrying with backoff", redact(str(exc)) or type(exc).__name__)
            yield None
            sleep(delay)
            delay = min(delay * 2, reconnect_cap_s)
            continue
        if down_since is not None:
            log.warning("events: Redis is back after %.1f s", time.monotonic() - down_since)
            delay, down_since = 0.1, None
        if not positions:
            yield None
            if stop is None or not stop():
                sleep(block_ms / 1000.0)
            continue
        if not reply:
            yield None
            continue
        for raw_stream, entries in reply:
            stream = raw_stream.decode()
            for entry_id, fields in entries:
                positions[stream] = entry_id.decode()
                try:
                    yield decode_event(fields).to_dict()
                except MessageError as exc:
                    log.debug("events: skipping entry %s of %s: %s", entry_id.decode(), stream, exc)


def format_event(event: dict[str, Any]) -> str:
    emotion = event["emotion"]
    bar = "█" * round(emotion["confidence"] * 10)
    frame = event["frame"]
    return (
        f"{event['source']:<10} t={frame['offset_s']:7.2f}s frame {frame['seq']:>5}  "
        f"face #{event['face']['track_id']:<3} {emotion['label']:<8} {emotion['confidence']:.2f} {bar:<10} "
        f"({event['latency_ms']['capture_to_publish']:.0f} ms)"
    )


def as_json(event: dict[str, Any]) -> str:
    return json.dumps(event, separators=(",", ":"))


def format_track(track: dict[str, Any]) -> str:
    """One line per track event, for ``emostream tracks``."""
    after = track["after"]
    head = f"{track['source']:<10} t={after['last_s']:7.2f}s face #{track['track_id']:<3} {track['type']:<6}"
    if track["type"] == "new":
        return f"{head} {after['label']:<8} {after['score']:.2f}"
    if track["type"] == "update":
        before = track.get("before") or {}
        change = f"{before.get('label', '?')} -> {after['label']}" if track.get("reason") == "label_changed" else after["label"]
        return f"{head} {change:<19} {after['score']:.2f} ({track.get('reason')})"
    return f"{head} {after['duration_s']:.1f} s, {after['faces']} faces, mostly {after.get('dominant')} ({track.get('reason')})"
