"""Sections of what the workers serve over HTTP: ``http`` (/metrics, /healthz) and ``web`` (the live page)."""

from __future__ import annotations

from pydantic import Field

from emostream.config.base import Section


class HttpConfig(Section):
    host: str = Field("127.0.0.1", description="Address the /metrics and /healthz endpoints bind to.")
    ingest_port: int = Field(9401, ge=0, le=65535, description="Port of ingest's endpoints (0: pick a free one, -1 never).")
    classifier_port: int = Field(9402, ge=0, le=65535, description="Port of the classifier's endpoints (0: pick a free one).")
    aggregator_port: int = Field(9400, ge=0, le=65535, description="Port of the aggregator's endpoints (0: pick a free one).")
    max_connections: int = Field(
        64, ge=2, le=1000,
        description="Requests served at once (one thread each; at most half may be live MJPEG streams); more are answered 503.",
    )
    timeout_s: float = Field(
        10.0, gt=0, le=300,
        description="A client must send its request within this time, and a viewer must keep reading; idle connections close after it.",
    )


class WebConfig(Section):
    enabled: bool = Field(
        False,
        description="Serve the live web page on the aggregator's port; ingest then keeps each source's latest frame in Redis for it.",
    )
    preview_fps: float = Field(4.0, gt=0, le=30, description="Frames per second each source sends to the web view.")
    preview_width: int = Field(640, ge=64, le=3840, description="Preview frames are scaled down to this width.")
    blur_faces: bool = Field(False, description="Blur faces in the web view (done in ingest, before the frame leaves it).")
    share_window_s: float = Field(300.0, gt=0, description="Window of the emotion share shown per source.")
