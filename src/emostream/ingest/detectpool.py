"""Detection on threads of its own: a file's due frames detected side by side, on every core the worker is given.

A file's decode thread decodes, converts and detects its frames ahead of the
source's thread (:mod:`emostream.ingest.ahead`), but one frame at a time: with
YuNet, whose pass is most of a frame's CPU, one source kept about 1.3 cores
busy on a machine of two (docs/BENCHMARKS.md, stage profile). The model's
pass releases the GIL, and which frames are detected depends on the frame
count alone (``detector.interval``), so the decode thread can hand a due frame
over and go on to the next; the source's thread waits for the faces only when
it reaches that frame. Order, exactly-once publishing and the checkpoints stay
where they were: on the source's thread, frame after frame.

Each of the pool's threads owns a detector of its own (detectors keep buffers
and interpreters that one call at a time may use), built when the pool is, so
a detector that cannot be built fails the worker's start-up as before. The
worker's file sources share the pool (``ingest.detect_threads``): a process
runs as many passes at once as it has threads, whatever its number of sources.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future

import numpy as np

from emostream.detector import Detection, Detector
from emostream.ingest.stages import OFF, StageClock

log = logging.getLogger(__name__)

_STOP = None


class DetectPool:
    """``threads`` threads, each with a detector from ``make``; :meth:`submit` an image, get its detections' future."""

    def __init__(self, make: Callable[[], Detector], threads: int, stages: StageClock = OFF) -> None:
        if threads < 1:
            raise ValueError("a detection pool needs at least one thread")
        self.stages = stages
        self._jobs: queue.SimpleQueue[tuple[np.ndarray, Future[list[Detection]]] | None] = queue.SimpleQueue()
        self.detectors = [make() for _ in range(threads)]
        self.served = [0] * threads  # frames each thread detected (each writes its own count)
        self._threads = [
            threading.Thread(target=self._serve, args=(i, detector), name=f"detect-{i}", daemon=True) for i, detector in enumerate(self.detectors)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, image: np.ndarray) -> Future[list[Detection]]:
        """The image's detections, in the detector's native colour, when a thread has run the model on it."""
        future: Future[list[Detection]] = Future()
        self._jobs.put((image, future))
        return future

    def _serve(self, index: int, detector: Detector) -> None:
        stages = self.stages
        while (job := self._jobs.get()) is not _STOP:
            image, future = job
            stages.mark()  # the wait for a job is no stage
            try:
                future.set_result(detector.detect_native(image))
            except Exception as exc:  # handed to the source's thread, which logs it for its frame
                future.set_exception(exc)
            stages.lap("detect")
            self.served[index] += 1

    def close(self, join_s: float = 5.0) -> None:
        """Detect what was submitted, then end the threads and release the detectors (those whose thread ended)."""
        for _ in self._threads:
            self._jobs.put(_STOP)
        for thread, detector in zip(self._threads, self.detectors, strict=True):
            thread.join(join_s)
            if thread.is_alive():
                log.warning("ingest: detection thread %s still running at shutdown", thread.name)
                continue
            detector.close()
