"""Overlap a replica's three stages: take the next batch, run the model on this one, commit the previous one.

Run one after the other, a replica's model waits while it reads and decodes
faces and while it publishes events, and Redis waits while the model runs: a
GPU that classifies a batch in a few milliseconds would be idle most of the
time. Here each stage has a thread of its own: the model runs on the caller's
thread, taking and committing on one more each. Threads suffice: the model
(TFLite, TensorFlow, JAX) and socket I/O release the GIL, and what is left in
Python, decoding and formatting, is what one core must do anyway.

Details at :class:`Overlap`.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

A = TypeVar("A")
B = TypeVar("B")


class _End:
    """Marks the end of a stage's output."""


END = _End()


class Overlap(Generic[A, B]):
    """Runs ``take`` -> ``infer`` -> ``commit`` as three overlapping stages until ``stop`` is set.

    The stages handle their own errors (retry, log, skip the batch) and return
    None when they have nothing to hand on; one that raises stops the replica,
    and :meth:`run` raises it after draining the others.

    Hand-overs are queues of one batch, so at most five batches are in flight
    (one being taken, one waiting, one in the model, one waiting, one being
    committed), and a slow stage holds the ones before it back instead of letting
    memory grow. Nothing is acknowledged before its commit: a replica killed with
    batches in any stage leaves them pending, for a replica to claim.

    Stopping drains: once ``stop`` is set, the taker takes no more, and every
    batch already taken goes through the model and is committed before
    :meth:`Overlap.run` returns.
    """

    def __init__(
        self,
        take: Callable[[], A | None],
        infer: Callable[[A], B | None],
        commit: Callable[[B], object],
        stop: threading.Event,
    ) -> None:
        self.take = take
        self.infer = infer
        self.commit = commit
        self.stop = stop
        self._taken: queue.Queue[A | _End] = queue.Queue(maxsize=1)
        self._inferred: queue.Queue[B | _End] = queue.Queue(maxsize=1)
        self._waiting = False
        self._failure: BaseException | None = None

    def model_waiting(self) -> bool:
        """Whether the model stage waits for a batch and none is queued: the next batch need not fill any further."""
        return self._waiting and self._taken.empty()

    def run(self) -> None:
        taker = threading.Thread(target=self._guard, args=(self._take_loop,), name="classifier-take", daemon=True)
        committer = threading.Thread(target=self._guard, args=(self._commit_loop,), name="classifier-commit", daemon=True)
        taker.start()
        committer.start()
        try:
            self._infer_loop()
        finally:
            self.stop.set()  # only news if the model stage raised
            while taker.is_alive() or not self._taken.empty():  # let a taker blocked on a full queue finish
                with contextlib.suppress(queue.Empty):
                    self._taken.get(timeout=0.05)
            self._put(self._inferred, END)
            taker.join()
            committer.join()
        if self._failure is not None:
            raise self._failure

    def _put(self, into: queue.Queue[B | _End], item: B | _End) -> None:
        """Hand on to the committer, unless it died (then nobody would ever take it)."""
        while self._failure is None:
            try:
                into.put(item, timeout=0.1)
                return
            except queue.Full:
                pass

    def _guard(self, loop: Callable[[], None]) -> None:
        try:
            loop()
        except BaseException as exc:
            self._failure = exc
            self.stop.set()

    def _take_loop(self) -> None:
        try:
            while not self.stop.is_set():
                batch = self.take()
                if batch is not None:
                    self._taken.put(batch)
        finally:
            self._taken.put(END)

    def _infer_loop(self) -> None:
        while True:
            self._waiting = True
            batch = self._taken.get()
            self._waiting = False
            if isinstance(batch, _End):
                return
            result = self.infer(batch)
            if result is not None:
                self._put(self._inferred, result)

    def _commit_loop(self) -> None:
        while not isinstance(batch := self._inferred.get(), _End):
            self.commit(batch)
