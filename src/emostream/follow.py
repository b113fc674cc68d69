"""Reading the public streams as a subscriber: ``emostream events --follow`` and the live view."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import redis

from emostream.keys import Keys
from emostream.messages import MessageError, decode_event


def follow_events(
    client: redis.Redis,
    keys: Keys,
    sources: list[str] | None = None,
    from_start: bool = False,
    block_ms: int = 500,
    stop: Any = None,
    since_ms: int | None = None,
) -> Iterator[dict[str, Any] | None]:
    """Yield events as they arrive on every (or the given) source's stream.

    Yields None after each idle ``block_ms`` so a caller can redraw or stop.
    New sources are picked up as they register. Plain XREAD: no consumer group,
    so following never takes events away from the aggregator.
    """
    positions: dict[str, str] = {}
    start = f"{since_ms}-0" if since_ms is not None else "0" if from_start else "$"
    while stop is None or not stop():
        members: Any = client.smembers(keys.sources)
        wanted = sources or sorted(s.decode() for s in members)
        for source in wanted:
            positions.setdefault(keys.events(source), start)
        if not positions:
            yield None
            if stop is not None and stop():
                return
            import time

            time.sleep(block_ms / 1000.0)
            continue
        reply: Any = client.xread(positions, block=block_ms, count=500)  # type: ignore[arg-type]
        if not reply:
            yield None
            continue
        for raw_stream, entries in reply:
            stream = raw_stream.decode()
            for entry_id, fields in entries:
                positions[stream] = entry_id.decode()
                try:
                    yield decode_event(fields)
                except MessageError:
                    continue
        # Sources that registered after we started are read from their beginning (or from since_ms).
        start = f"{since_ms}-0" if since_ms is not None else "0"


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
