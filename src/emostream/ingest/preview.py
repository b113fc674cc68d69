"""Latest-frame previews for the live web view, published by ingest when the view is enabled.

A preview is one JPEG of the latest analysed frame per source, kept in Redis
under ``<prefix>:preview:<source>`` for a few seconds (it expires by itself),
with the frame's face boxes and track ids beside it. Whole frames leave ingest
only here, only when ``web.enabled`` is set, downscaled, optionally with the
faces blurred before encoding, and never more than ``web.preview_fps`` a second.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import cv2
import numpy as np
import redis

from emostream.detector.blur import blur_faces
from emostream.streams.keys import Keys

Box = tuple[int, int, int, int]


class PreviewPublisher:
    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        source: str,
        fps: float,
        max_width: int,
        blur: bool,
        ttl_s: int = 10,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client, self.keys, self.source = client, keys, source
        self.interval = 1.0 / fps
        self.max_width, self.blur, self.ttl_s = max_width, blur, ttl_s
        self.clock = clock
        self._next = 0.0

    def due(self) -> bool:
        return self.clock() >= self._next

    def publish(self, frame: np.ndarray, session: str, seq: int, boxes: list[Box], tracks: list[int]) -> bool:
        """Encode and store the frame if a preview is due; returns whether it was published."""
        if not self.due():
            return False
        self._next = self.clock() + self.interval
        image = blur_faces(frame, boxes) if self.blur else frame
        scale = min(1.0, self.max_width / image.shape[1])
        if scale < 1.0:
            image = cv2.resize(image, (int(image.shape[1] * scale), int(image.shape[0] * scale)), interpolation=cv2.INTER_AREA)
        ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 75])
        if not ok:
            return False
        meta = {
            "session": session,
            "seq": seq,
            "scale": scale,
            "faces": [{"track_id": t, "box": [int(v * scale) for v in b]} for b, t in zip(boxes, tracks, strict=True)],
            "at": time.time(),
        }
        pipe = self.client.pipeline(transaction=True)
        pipe.set(self.keys.preview(self.source), jpeg.tobytes(), ex=self.ttl_s)
        pipe.set(self.keys.preview_meta(self.source), json.dumps(meta), ex=self.ttl_s)
        pipe.execute()
        return True
