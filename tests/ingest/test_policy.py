"""The backpressure policy, decision by decision."""

from __future__ import annotations

import pytest

from emostream.ingest.policy import Backpressure, Limits, QueueState, Verdict

LIMITS = Limits(backlog_max=100, max_queue_age_ms=800.0)


@pytest.mark.parametrize(
    ("queue", "live", "files"),
    [
        (QueueState(0, 0.0), Verdict.ANALYSE, Verdict.ANALYSE),
        (QueueState(10, 399.0), Verdict.ANALYSE, Verdict.ANALYSE),  # under half the bound: queue it
        (QueueState(10, 401.0), Verdict.DROP_AGE, Verdict.WAIT),  # over half: the rest is the classifier's share
        (QueueState(100, 10.0), Verdict.DROP_BACKLOG, Verdict.WAIT),
        (QueueState(100, 5_000.0), Verdict.DROP_AGE, Verdict.WAIT),  # age is the reason a camera user sees first
    ],
)
def test_live_sources_drop_and_files_wait(queue: QueueState, live: Verdict, files: Verdict) -> None:
    assert Backpressure.for_source(True).decide(queue, LIMITS) is live
    assert Backpressure.for_source(False).decide(queue, LIMITS) is files


def test_the_wait_ahead_counts_before_the_oldest_face_is_old() -> None:
    """Faces arriving 4x faster than they are taken: the oldest waited 100 ms, but 30 faces at 20/s are 1.5 s of work."""
    queue = QueueState(backlog=30, oldest_age_ms=100.0, waiting=30, drain_per_s=20.0)
    assert queue.wait_ms == 1_500.0
    assert Backpressure.DROP.decide(queue, LIMITS) is Verdict.DROP_AGE
    assert Backpressure.DROP.decide(QueueState(8, 100.0, 6, 20.0), LIMITS) is Verdict.ANALYSE  # 300 ms ahead


def test_the_classifiers_forward_pass_is_taken_off_the_bound_first() -> None:
    """A 400 ms forward pass leaves 400 ms of the 800 ms bound: a face may wait 200 ms in the queue."""
    assert Backpressure.DROP.decide(QueueState(5, 190.0, service_ms=400.0), LIMITS) is Verdict.ANALYSE
    assert Backpressure.DROP.decide(QueueState(5, 210.0, service_ms=400.0), LIMITS) is Verdict.DROP_AGE
    assert Backpressure.DROP.decide(QueueState(5, 10.0, service_ms=2_000.0), LIMITS) is Verdict.DROP_AGE, "a hopeless classifier: queue nothing"


def test_a_bound_of_0_turns_the_age_check_off() -> None:
    assert Backpressure.DROP.decide(QueueState(1, 1e9), Limits(100, 0.0)) is Verdict.ANALYSE
    assert Backpressure.WAIT.decide(QueueState(1, 1e9), Limits(100, 0.0)) is Verdict.ANALYSE
