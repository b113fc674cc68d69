"""Publish behind: the source threads hand their frames to one writer thread and go on to the next frame.

Each analysed frame was one MULTI/EXEC round trip on its source's thread: the
thread waited for Redis, and with many sources each paid its own round trip and
its share of the GIL around it. Here a source thread queues the frame and
returns; one writer per worker takes everything queued (any sources) and
writes it with :meth:`IngestPublisher.frames`: one transaction per faces shard,
each frame's jobs still together with its checkpoint.

What does not change:

- **Exactly once.** A frame and its checkpoint land together or not at all; a
  killed worker loses only frames not yet written, whose checkpoint was not
  written either, so the restart analyses them again (``ingest/checkpoint.py``).
- **Order.** A source's frames are written in the order it handed them on, and
  everything else it writes (session start and end, reading its checkpoint)
  first waits until its frames are written: an end message never overtakes
  the session's last faces.
- **Memory and backpressure.** A source may have at most ``depth`` frames
  queued; the next hand-over waits. Its faces are counted as queued for the
  backpressure probe when handed over, as before.
- **Errors.** A write that fails for good (not a lost connection, which the
  reconnector rides out) is raised to the source at its next call, as it was
  raised by the write itself before.

Details at :class:`WriteBehind`.
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol

from emostream.ingest.publisher import FrameWrite
from emostream.ingest.runner_parts import Publisher
from emostream.ingest.stages import OFF, StageClock
from emostream.streams.facejob import FaceJob
from emostream.streams.lifecycle import SessionEnd, SessionStart

log = logging.getLogger(__name__)

BATCH_MAX = 64  # frames in one write


class FramesPublisher(Publisher, Protocol):
    """What the writer writes through (:class:`~emostream.ingest.publisher.IngestPublisher`)."""

    def frames(self, writes: list[FrameWrite]) -> None: ...


class WriteBehind:
    """A :class:`~emostream.ingest.runner_parts.Publisher` whose frames are written by one thread of its own.

    ``close`` writes what is queued (the reconnector gives up while the worker
    stops and Redis is away: those frames are not checkpointed and are
    analysed again after a restart).
    """

    def __init__(self, publisher: FramesPublisher, depth: int, stages: StageClock = OFF) -> None:
        if depth < 1:
            raise ValueError("depth must be at least 1")
        self.publisher, self.depth, self.stages = publisher, depth, stages
        self._queue: collections.deque[FrameWrite] = collections.deque()
        self._pending: dict[str, int] = {}  # frames per source handed over and not yet written
        self._errors: dict[str, BaseException] = {}
        self._closing = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._write_loop, name="ingest-publish", daemon=True)
        self._thread.start()

    # --- the source threads' side ----------------------------------------------

    def frame(self, source: str, session: str, frame_index: int, jobs: list[FaceJob], state: str) -> None:
        self.stages.mark()
        with self._cond:
            self._cond.wait_for(lambda: self._pending.get(source, 0) < self.depth or source in self._errors)
            self._raise(source)
            self._queue.append(FrameWrite(source, session, frame_index, jobs, state))
            self._pending[source] = self._pending.get(source, 0) + 1
            self._cond.notify_all()
        self.stages.lap("wait")  # for room in the queue

    def flush(self, source: str) -> None:
        """Wait until every frame ``source`` handed over is written (or failed: raised here)."""
        with self._cond:
            self._cond.wait_for(lambda: not self._pending.get(source) or source in self._errors)
            self._raise(source)

    def _raise(self, source: str) -> None:
        error = self._errors.pop(source, None)
        if error is not None:
            raise error

    def register(self, source: str) -> None:
        self.publisher.register(source)

    def session_started(self, message: SessionStart) -> None:
        self.flush(message.source)
        self.publisher.session_started(message)

    def session_ended(self, message: SessionEnd, checkpointed: bool, mark: str | None = None) -> None:
        self.flush(message.source)
        self.publisher.session_ended(message, checkpointed, mark)

    def checkpoint(self, source: str) -> dict[str, Any] | None:
        self.flush(source)
        return self.publisher.checkpoint(source)

    def checkpoint_key(self, source: str) -> str:
        return self.publisher.checkpoint_key(source)

    def side(self, op: Callable[[], object]) -> None:
        self.publisher.side(op)

    # --- the writer ----------------------------------------------------------------

    def _write_loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._queue) or self._closing)
                if not self._queue:
                    return
                batch = [self._queue.popleft() for _ in range(min(BATCH_MAX, len(self._queue)))]
            self.stages.mark()
            try:
                self.publisher.frames(batch)
                failed: BaseException | None = None
            except Exception as exc:  # handed to each source of the batch; the writer goes on
                log.debug("ingest: writing %d frame(s) failed: %s", len(batch), exc)
                failed = exc
            with self._cond:
                for write in batch:
                    self._pending[write.source] -= 1
                    if failed is not None:
                        self._errors[write.source] = failed
                self._cond.notify_all()

    def close(self, join_s: float = 10.0) -> bool:
        """Write what is queued, then end the writer; returns whether it ended within ``join_s``."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(join_s)
        return not self._thread.is_alive()
