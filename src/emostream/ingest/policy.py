"""What a source is doing, and what it does when the classifiers fall behind: named, not strings.

Details at :class:`Backpressure`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from emostream.infra.metrics import DropReason


class SourceState(StrEnum):
    """Where one source's runner stands; shown by ``emostream sources list`` and ``/healthz``."""

    STARTING = "starting"  # thread created, detector not built yet
    CONNECTING = "connecting"  # opening the source for the first time
    UP = "up"  # delivering frames
    DOWN = "down"  # a live source lost, being reconnected with backoff
    ENDED = "ended"  # a file read to its end
    FAILED = "failed"  # cannot run: bad file, detector missing, or reconnects given up
    STOPPED = "stopped"  # stopped by shutdown or a run-time removal


class Verdict(StrEnum):
    """The policy's answer for one frame that pacing admitted."""

    ANALYSE = "analyse"
    WAIT = "wait"  # ask again shortly (files)
    DROP_BACKLOG = DropReason.BACKLOG.value  # live: the queue is full
    DROP_AGE = DropReason.AGE.value  # live: the work ahead is older than the freshness bound

    @property
    def drop_reason(self) -> DropReason:
        """The reason counted for a drop verdict (ValueError for ANALYSE and WAIT, which drop nothing)."""
        return DropReason(self.value)


@dataclass(frozen=True)
class QueueState:
    """What the classifiers' queue looks like, as far as ingest can tell cheaply."""

    backlog: int = 0  # faces not yet acknowledged (waiting or in a classifier's hands)
    oldest_age_ms: float = 0.0  # how long the oldest face not yet delivered has waited; 0 when none
    waiting: int = 0  # faces not yet delivered, including those this worker queued since the last read
    drain_per_s: float = 0.0  # faces the classifiers took per second lately; 0: unknown
    service_ms: float = 0.0  # the slowest classifier's recent forward pass; 0: unknown

    @property
    def wait_ms(self) -> float:
        """How long a face queued now would wait: at least what the oldest has waited, and the queue ahead at the drain rate.

        The age alone reacts late: when faces arrive four times faster than
        they are taken, the oldest has waited 400 ms when the newest has 1.6 s
        of work ahead of it.
        """
        ahead_ms = 1000.0 * self.waiting / self.drain_per_s if self.drain_per_s > 0 else 0.0
        return max(self.oldest_age_ms, ahead_ms)


QUEUE_SHARE = 0.5  # of max_queue_age_ms that faces may wait in the queue before live sources stop queueing


@dataclass(frozen=True)
class Limits:
    backlog_max: int
    max_queue_age_ms: float  # 0: no freshness bound


def queue_budget_ms(queue: QueueState, limits: Limits) -> float:
    """How long a live face may wait in the queue: half of what the forward pass leaves of the bound."""
    return max(0.0, limits.max_queue_age_ms - queue.service_ms) * QUEUE_SHARE


class Backpressure(StrEnum):
    """``wait`` (files) or ``drop`` (live sources).

    Backpressure is a policy chosen per source, in the spirit of Roboflow's
    ``BufferFillingStrategy``: a **file** waits (every frame is analysed, only
    later), a **live** source drops (a camera does not wait for us, and an event
    that arrives late is worth less than a fresh one). A live source drops for one
    of two reasons, counted apart: the faces queue holds ``ingest.backlog_max``
    faces (memory), or a face queued now would wait more than half of
    ``ingest.max_queue_age_ms`` before a classifier takes it (freshness; see
    :attr:`QueueState.wait_ms`). A file waits on the same two
    conditions, so a file being read as fast as the disk allows cannot fill the
    queue with seconds of work ahead of the cameras and starve them; it only
    takes longer.

    How long a face may wait: ``max_queue_age_ms`` bounds a live face's whole
    way from capture to its published event, and classifiers drop the faces that
    would miss it. If ingest queued until the queue itself were that old, the
    classifiers would reach mostly faces already too old to publish, and drop
    them after ingest had paid for their detection. So the classifiers' recent
    forward-pass time (which they advertise) is taken off the bound first, and a
    face may wait half of what is left; the other half covers decoding, detection
    and publishing, and the timing noise of a busy machine, while enough work
    stays queued for the classifiers' next batches. Before any classifier has
    advertised its time, the whole bound counts.
    """

    WAIT = "wait"
    DROP = "drop"

    @classmethod
    def for_source(cls, live: bool) -> Backpressure:
        return cls.DROP if live else cls.WAIT

    def decide(self, queue: QueueState, limits: Limits) -> Verdict:
        # Age first: it is the bound a camera user notices, and it trips long before a full queue.
        stale = bool(limits.max_queue_age_ms) and queue.wait_ms > queue_budget_ms(queue, limits)
        full = queue.backlog >= limits.backlog_max
        if self is Backpressure.WAIT:
            return Verdict.WAIT if stale or full else Verdict.ANALYSE
        if stale:
            return Verdict.DROP_AGE
        return Verdict.DROP_BACKLOG if full else Verdict.ANALYSE
