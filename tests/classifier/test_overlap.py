"""The three overlapping stages: they run at once, hand on every batch in order, and drain on stop."""

from __future__ import annotations

import threading
import time

import pytest

from emostream.classifier.overlap import Overlap
from emostream.classifier.shards import read_order

pytestmark = pytest.mark.timeout(30)


class Recorder:
    """Stages that log when they start and end each batch; the model stage takes ``model_s``."""

    def __init__(self, batches: int, model_s: float = 0.0) -> None:
        self.stop = threading.Event()
        self.remaining = list(range(batches))
        self.model_s = model_s
        self.log: list[tuple[str, int, str]] = []
        self.committed: list[int] = []
        self.lock = threading.Lock()

    def mark(self, stage: str, batch: int, what: str) -> None:
        with self.lock:
            self.log.append((stage, batch, what))

    def take(self) -> int | None:
        if not self.remaining:
            time.sleep(0.01)
            return None
        batch = self.remaining.pop(0)
        self.mark("take", batch, "end")
        return batch

    def infer(self, batch: int) -> int:
        self.mark("model", batch, "start")
        time.sleep(self.model_s)
        self.mark("model", batch, "end")
        return batch

    def commit(self, batch: int) -> None:
        self.committed.append(batch)
        if len(self.committed) == 6:
            self.stop.set()


def test_the_next_batch_is_taken_while_the_model_runs_and_every_batch_is_committed_in_order() -> None:
    stages = Recorder(batches=6, model_s=0.05)
    Overlap(stages.take, stages.infer, stages.commit, stages.stop).run()
    assert stages.committed == list(range(6)), stages.committed
    log = stages.log
    # batch 1 was taken before batch 0 left the model: the reading overlapped the inference
    assert log.index(("take", 1, "end")) < log.index(("model", 0, "end")), log


def test_stopping_drains_what_was_taken() -> None:
    # Given a model so slow that batches wait in the hand-overs when stop comes
    stages = Recorder(batches=4, model_s=0.1)
    overlap = Overlap(stages.take, stages.infer, stages.commit, stages.stop)
    runner = threading.Thread(target=overlap.run)
    runner.start()
    time.sleep(0.05)
    stages.stop.set()
    runner.join(10)
    # Then every batch taken before the stop went through the model and was committed
    taken = [batch for stage, batch, _ in stages.log if stage == "take"]
    assert taken and stages.committed == taken, (taken, stages.committed)


def test_the_model_waits_for_work_only_while_nothing_is_queued_or_running() -> None:
    # Given one batch in a model that takes 0.2 s, and a taker that then only asks whether the model waits
    stages = Recorder(batches=1, model_s=0.2)
    seen: list[bool] = []

    def take() -> int | None:
        if stages.remaining:
            return stages.take()
        seen.append(overlap.model_waiting())
        if len(seen) >= 40:
            stages.stop.set()
        time.sleep(0.01)
        return None

    overlap: Overlap[int, int] = Overlap(take, stages.infer, stages.commit, stages.stop)
    overlap.run()
    # Then it is busy while the batch is in the model (a fill would go on), then waiting (a fill would end)
    assert seen[0] is False and seen[-1] is True, seen
    assert seen == sorted(seen), f"waiting must not flip back without a new batch: {seen}"


def test_a_stage_that_raises_stops_the_replica_and_is_raised() -> None:
    stages = Recorder(batches=3)

    def broken(batch: int) -> None:
        raise RuntimeError(f"commit of {batch} broke")

    with pytest.raises(RuntimeError, match="commit of 0 broke"):
        Overlap(stages.take, stages.infer, broken, stages.stop).run()
    assert stages.stop.is_set()


def test_every_shard_is_read_in_turn() -> None:
    shards = ["f:0", "f:1", "f:2"]
    # room for all: each shard an equal share
    assert read_order(shards, 0, 9) == (["f:0", "f:1", "f:2"], 3)
    assert read_order(shards, 1, 9) == (["f:1", "f:2", "f:0"], 3)
    # less room than shards: one each for the first of this turn, and every shard comes first in time
    firsts = [read_order(shards, turn, 1)[0] for turn in range(3)]
    assert firsts == [["f:0"], ["f:1"], ["f:2"]], firsts
    assert read_order(["f"], 7, 256) == (["f"], 256), "one stream: the whole batch from it"
