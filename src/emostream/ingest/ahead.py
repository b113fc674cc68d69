"""Work ahead: an iterator run on a thread of its own, a few items ahead of the loop that consumes it.

A file source's thread decoded, converted and detected a frame, then tracked,
cropped and published it, one stage after another, while the other core
waited: decoding (FFmpeg), colour conversion (swscale) and the detector's
model (LiteRT) all release the GIL. Run on their own thread, the next frame is
decoded and detected while this one is tracked and published (the stage
profile in docs/BENCHMARKS.md shows which stages overlap).

The producer owns what it iterates: a PyAV container must be iterated and
closed on one thread, so closing the producer (:meth:`Ahead.close`) closes the
generator on the producer's own thread, where its ``finally`` releases the
source. The queue is bounded (``depth`` items), so a consumer that waits (a
file held back by backpressure) holds the producer too and memory stays at
``depth`` frames. An exception of the producer is raised to the consumer at
its place in the sequence, after the items before it.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Generator, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

_END = object()


class Ahead(Generic[T]):
    """Iterate ``items`` on a daemon thread, at most ``depth`` items ahead; iterate this object to consume them."""

    def __init__(self, items: Generator[T, None, None], depth: int, name: str) -> None:
        if depth < 1:
            raise ValueError("depth must be at least 1")
        self.depth = depth
        self._items = items
        self._queue: collections.deque[object] = collections.deque()
        self._error: BaseException | None = None
        self._stopping = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._produce, name=name, daemon=True)
        self._thread.start()

    def _produce(self) -> None:
        try:
            for item in self._items:
                with self._cond:
                    self._cond.wait_for(lambda: self._stopping or len(self._queue) < self.depth)
                    if self._stopping:
                        break
                    self._queue.append(item)
                    self._cond.notify_all()
        except BaseException as exc:  # handed to the consumer in order, never lost on this thread
            self._error = exc
        finally:
            self._items.close()  # on this thread: the generator's finally releases what it iterated
            with self._cond:
                self._queue.append(_END)
                self._cond.notify_all()

    def __iter__(self) -> Iterator[T]:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._queue))
                item = self._queue.popleft()
                self._cond.notify_all()
            if item is _END:
                if self._error is not None:
                    raise self._error
                return
            yield item  # type: ignore[misc]  # anything but _END is a T

    def close(self, join_s: float = 5.0) -> bool:
        """Stop producing (at the producer's next item) and wait up to ``join_s``; returns whether it has finished."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(join_s)
        return not self._thread.is_alive()
