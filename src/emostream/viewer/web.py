"""The live web page: every source's latest annotated frame, its faces, emotion shares, sessions.

Served by the aggregator on its HTTP port when ``web.enabled`` is set (and
nothing at all otherwise). It reads only Redis: ingest's frame previews, the
events and track streams, and the session summaries, so it works with any
number of ingest hosts and classifier replicas.

Routes: ``/`` (the page), ``/live/state.json`` (what the page shows, polled
each second), ``/live/<source>.jpg`` (one annotated frame) and
``/live/<source>.mjpg`` (the same as an MJPEG stream). Each source's frame is
rendered at most once per MJPEG interval and shared by all its viewers (see
``broadcast``); the aggregator hands this view a Redis client of its own, so
viewers never take connections from its work loop.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from importlib import resources
from typing import Any

import cv2
import numpy as np
import redis

from emostream.infra.emotions import EMOTIONS
from emostream.infra.httpserver import Response, WorkerHttpServer, json_response
from emostream.streams.keys import Keys
from emostream.viewer.annotate import FaceLabel, annotate
from emostream.viewer.broadcast import FrameBroadcast

log = logging.getLogger(__name__)
BOUNDARY = "emostreamframe"
NO_FRAME_END_S = 30.0  # an MJPEG stream whose source shows no frame this long ends (the page reconnects)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class WebView:
    def __init__(self, client: redis.Redis, keys: Keys, share_window_s: float = 300.0, mjpeg_fps: float = 5.0) -> None:
        self.client, self.keys = client, keys
        self.share_window_s = share_window_s
        self.mjpeg_interval = 1.0 / mjpeg_fps
        self._cache: tuple[float, dict[str, Any]] | None = None
        self._lock = threading.Lock()
        self.broadcast = FrameBroadcast(self.annotated_jpeg, self.mjpeg_interval)

    def register(self, server: WorkerHttpServer) -> None:
        server.add("/", self.page)
        server.add("/live/state.json", lambda _: json_response(self.state()))
        server.add("/live/", self.frame_route, prefix=True)

    # --- data ---------------------------------------------------------------

    def sources(self) -> list[str]:
        return sorted(_text(s) for s in self.client.smembers(self.keys.sources))

    def _latest_by_track(self, stream: str, session: str | None, count: int = 200) -> dict[int, dict[str, Any]]:
        latest: dict[int, dict[str, Any]] = {}
        entries: Any = self.client.xrevrange(stream, count=count)
        for _, fields in entries:
            try:
                data = json.loads(fields[b"data"])
            except (KeyError, ValueError):
                continue
            if session and data.get("session") != session:
                continue
            track = int(data["face"]["track_id"] if "face" in data else data.get("track_id", -1))
            latest.setdefault(track, data)
        return latest

    def _faces(self, source: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        raw = self.client.get(self.keys.preview_meta(source))
        meta = json.loads(raw) if raw else None
        session = meta["session"] if meta else None
        events = self._latest_by_track(self.keys.events(source), session)
        tracks = self._latest_by_track(self.keys.tracks(source), session)
        visible = [f["track_id"] for f in meta["faces"]] if meta else sorted(events)
        faces = []
        for track in visible:
            event = events.get(track)
            if event is None:
                continue
            smoothed = tracks.get(track, {}).get("after") or {}
            faces.append(
                {
                    "track_id": track,
                    "label": smoothed.get("label", event["emotion"]["label"]),
                    "raw_label": event["emotion"]["label"],
                    "confidence": event["emotion"]["confidence"],
                    "score": smoothed.get("score", event["emotion"]["confidence"]),
                    "probabilities": event["emotion"]["probabilities"],
                    "box": next((f["box"] for f in meta["faces"] if f["track_id"] == track), None) if meta else None,
                }
            )
        return meta, faces

    def _share(self, source: str) -> dict[str, float]:
        since = int((time.time() - self.share_window_s) * 1000)
        counts = dict.fromkeys(EMOTIONS, 0)
        entries: Any = self.client.xrange(self.keys.events(source), min=f"{since}-0", count=20_000)
        for _, fields in entries:
            try:
                counts[json.loads(fields[b"data"])["emotion"]["label"]] += 1
            except (KeyError, ValueError):
                continue
        total = sum(counts.values())
        return {e: round(c / total, 4) if total else 0.0 for e, c in counts.items()}

    def _sessions(self, count: int = 20) -> list[dict[str, Any]]:
        out = []
        entries: Any = self.client.xrevrange(self.keys.sessions, count=count)
        for _, fields in entries:
            try:
                summary = json.loads(fields[b"data"])
            except (KeyError, ValueError):
                continue
            sid = summary["session"]
            out.append(
                {
                    "session": sid,
                    "source": summary.get("source"),
                    "ended_at": summary.get("ended_at"),
                    "faces": summary.get("faces"),
                    "dominant": max(summary["emotions"]["share"].items(), key=lambda kv: kv[1])[0] if summary.get("faces") else None,
                    "summary_url": f"/sessions/{sid}",
                    "timeline_url": f"/sessions/{sid}/timeline.png",
                }
            )
        return out

    def state(self) -> dict[str, Any]:
        """Everything the page shows; cached for half a second so many viewers cost one read."""
        with self._lock:
            if self._cache and time.monotonic() - self._cache[0] < 0.5:
                return self._cache[1]
            sources = []
            for source in self.sources():
                meta, faces = self._faces(source)
                sources.append(
                    {
                        "id": source,
                        "session": meta["session"] if meta else None,
                        "live": meta is not None and time.time() - float(meta["at"]) < 5,
                        "faces": faces,
                        "share": self._share(source),
                        "frame_url": f"/live/{source}.jpg",
                        "stream_url": f"/live/{source}.mjpg",
                    }
                )
            body = {"sources": sources, "share_window_s": self.share_window_s, "sessions": self._sessions(), "emotions": list(EMOTIONS)}
            self._cache = (time.monotonic(), body)
            return body

    def annotated_jpeg(self, source: str) -> bytes | None:
        raw: Any = self.client.get(self.keys.preview(source))
        if raw is None:
            return None
        _, faces = self._faces(source)
        frame = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR)
        if frame is None:
            return None
        labels = [
            FaceLabel(tuple(f["box"]), f["probabilities"], f["track_id"], f["label"], f["score"])
            for f in faces
            if f["box"] is not None
        ]
        ok, jpeg = cv2.imencode(".jpg", annotate(frame, labels, blur=False), [cv2.IMWRITE_JPEG_QUALITY, 80])
        return jpeg.tobytes() if ok else None

    # --- routes -------------------------------------------------------------

    def page(self, _path: str) -> Response:
        html = (resources.files("emostream.viewer") / "static" / "index.html").read_bytes()
        return 200, "text/html; charset=utf-8", html

    def frame_route(self, path: str) -> Response:
        name = path.removeprefix("/live/")
        source, _, kind = name.rpartition(".")
        if source not in self.sources() or kind not in ("jpg", "mjpg"):
            return json_response({"error": f"no live source {source!r}"}, 404)
        if kind == "jpg":
            _, jpeg = self.broadcast.next_frame(source, 0, timeout_s=5.0)
            if jpeg is None:
                return json_response({"error": f"no recent frame from {source!r}"}, 404)
            return 200, "image/jpeg", jpeg
        return 200, f"multipart/x-mixed-replace; boundary={BOUNDARY}", self._mjpeg(source)

    def _mjpeg(self, source: str) -> Iterator[bytes]:
        """Frames until the client goes away (the server closes this generator then).

        Yields an empty chunk while there is no frame, so the server can stop
        the stream when it shuts down; ends after ``NO_FRAME_END_S`` without one.
        """
        seq, last_frame = 0, time.monotonic()
        while True:
            try:
                seq, jpeg = self.broadcast.next_frame(source, seq, timeout_s=1.0)
            except redis.RedisError as exc:  # Redis away for a moment: keep the viewer, try again
                log.debug("web: no frame of %s: Redis unavailable: %s", source, exc)
                jpeg = None
                time.sleep(self.mjpeg_interval)
            if jpeg is None:
                if time.monotonic() - last_frame > NO_FRAME_END_S:
                    return
                yield b""
                continue
            last_frame = time.monotonic()
            yield f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode() + jpeg + b"\r\n"
