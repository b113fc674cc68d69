"""One detector shared by the source threads of a process: frames that arrive together are detected as one batch.

Each source thread had a detector of its own, so nine sources held nine copies
of the model and ran nine interpreters of batch one side by side. Here one
thread serves them all: it takes every frame waiting when it is free (up to
``max_batch``) and runs them through :meth:`LiteRTBlazeFace.detect_many`,
one ``invoke`` per model and batch, so the views of several frames share one
pass over the weights. There is no fill wait: the first frame to arrive while
the model is idle goes at once, alone, and the frames that arrive meanwhile make
the next batch (a source waits at most one batch for its turn, and one source
alone is never delayed for others that may not come).

Each source still gets exactly its own frame's detections, the same as a
detector of its own would give (the model's batch dimension only repeats it).
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Sequence
from typing import Literal, Protocol

import numpy as np

from emostream.detector.base import Detection, Detector

log = logging.getLogger(__name__)


class ManyDetector(Protocol):
    """A detector that takes several frames at once (:class:`~emostream.detector.litert.LiteRTBlazeFace`)."""

    @property
    def name(self) -> str: ...

    @property
    def colour(self) -> Literal["bgr", "rgb"]: ...

    def detect_many(self, images: Sequence[np.ndarray]) -> list[list[Detection]]: ...

    def close(self) -> None: ...


class _Request:
    __slots__ = ("done", "error", "image", "result")

    def __init__(self, image: np.ndarray) -> None:
        self.image = image
        self.done = threading.Event()
        self.result: list[Detection] = []
        self.error: BaseException | None = None


class BatchingDetector:
    """Serves :meth:`handle` detectors to any number of threads; :meth:`close` ends the serving thread."""

    def __init__(self, detector: ManyDetector, max_batch: int = 8) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.detector, self.max_batch = detector, max_batch
        self.batches = self.frames = 0  # what was served, for the benchmark's mean batch size
        self._waiting: collections.deque[_Request] = collections.deque()
        self._cond = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._serve, name="detector-batch", daemon=True)
        self._thread.start()

    def handle(self) -> Detector:
        """A :class:`Detector` for one source thread; closing it leaves the shared one running."""
        return _Handle(self)

    def detect(self, image: np.ndarray) -> list[Detection]:
        request = _Request(image)
        with self._cond:
            if self._closing:
                raise RuntimeError("the shared detector is closed")
            self._waiting.append(request)
            self._cond.notify_all()
        request.done.wait()
        if request.error is not None:
            raise request.error
        return request.result

    def _serve(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._waiting) or self._closing)
                if not self._waiting:
                    return
                batch = [self._waiting.popleft() for _ in range(min(self.max_batch, len(self._waiting)))]
            try:
                results = self.detector.detect_many([r.image for r in batch])
            except Exception as exc:  # every frame of the batch fails, as each would have alone
                results = []
                for request in batch:
                    request.error = exc
            for request, found in zip(batch, results, strict=False):
                request.result = found
            self.batches += 1
            self.frames += len(batch)
            for request in batch:
                request.done.set()

    def close(self, join_s: float = 5.0) -> None:
        """Finish the frames waiting, then stop serving and release the model."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(join_s)
        if not self._thread.is_alive():
            self.detector.close()


class _Handle(Detector):
    def __init__(self, shared: BatchingDetector) -> None:
        self.shared = shared
        self.name = shared.detector.name
        self.colour = shared.detector.colour  # type: ignore[misc]  # the shared detector's colour, per instance

    def detect_native(self, image: np.ndarray) -> list[Detection]:
        return self.shared.detect(image)
