"""Batching: up to batch_max entries, waiting at most batch_wait_ms after the first."""

from __future__ import annotations

from emostream.classifier.batching import collect_batch
from emostream.classifier.buckets import batch_buckets, bucket_for


class FakeStream:
    """Entries arrive at given times on a fake clock; a blocking read waits like XREADGROUP BLOCK,
    ``block_ms=None`` returns what is there at once, and ``sleep`` moves the clock."""

    def __init__(self, arrivals: list[float]) -> None:
        self.now = 0.0
        self.pending = sorted(arrivals)
        self.calls: list[tuple[int, int | None]] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def _take(self, count: int) -> list[float]:
        taken = [t for t in self.pending if t <= self.now][:count]
        for t in taken:
            self.pending.remove(t)
        return taken

    def read(self, count: int, block_ms: int | None) -> list[float]:
        self.calls.append((count, block_ms))
        if block_ms is not None and not any(t <= self.now for t in self.pending):
            upcoming = [t for t in self.pending if t <= self.now + block_ms / 1000]
            self.now = upcoming[0] if upcoming else self.now + block_ms / 1000
        return self._take(count)

    def collect(self, **kw: object) -> list[float]:
        return collect_batch(self.read, clock=self.clock, sleep=self.sleep, **kw)  # type: ignore[arg-type]


def test_full_batch_returns_at_once() -> None:
    stream = FakeStream([0.0] * 40)
    batch = stream.collect(batch_max=32, batch_wait_ms=50)
    assert len(batch) == 32
    assert stream.now == 0.0, "a batch that filled at once must not wait"


def test_partial_batch_waits_at_most_batch_wait_after_the_first() -> None:
    stream = FakeStream([1.0, 1.01, 1.02, 1.2])
    batch = stream.collect(batch_max=32, batch_wait_ms=50, idle_block_ms=5000)
    assert batch == [1.0, 1.01, 1.02], "the entry 200 ms after the first belongs to the next batch"
    assert 1.049 <= stream.now <= 1.0501, f"waited until {stream.now}, expected 1.05"


def test_the_fill_wait_never_blocks_in_redis() -> None:
    # Redis ends a BLOCK that no entry interrupts only on its hz timer (about 100 ms),
    # so only the wait for a first entry may block.
    stream = FakeStream([0.0, 0.005])
    stream.collect(batch_max=8, batch_wait_ms=20)
    assert stream.calls[0][1] is not None, "the first read blocks for a first entry"
    assert all(block is None for _, block in stream.calls[1:]), f"later reads must not block: {stream.calls}"


def test_a_zero_wait_returns_what_the_first_read_got() -> None:
    stream = FakeStream([0.0, 0.0, 0.001])
    assert stream.collect(batch_max=8, batch_wait_ms=0) == [0.0, 0.0]
    assert len(stream.calls) == 1, "no wait means no second read"


def test_nothing_arrives_returns_empty_after_the_idle_block() -> None:
    stream = FakeStream([])
    assert stream.collect(batch_max=8, batch_wait_ms=50, idle_block_ms=250) == []
    assert stream.calls == [(8, 250)]


def test_later_reads_ask_only_for_the_remaining_room() -> None:
    stream = FakeStream([0.0, 0.0, 0.01, 0.01, 0.01])
    batch = stream.collect(batch_max=4, batch_wait_ms=50)
    assert len(batch) == 4
    assert stream.calls[0][0] == 4 and {count for count, _ in stream.calls[1:]} == {2}, stream.calls


def test_buckets_are_powers_of_two_up_to_batch_max() -> None:
    assert batch_buckets(1) == (1,)
    assert batch_buckets(32) == (1, 2, 4, 8, 16, 32)
    assert batch_buckets(48) == (1, 2, 4, 8, 16, 32, 48)
    assert bucket_for(5, batch_buckets(32)) == 8
    assert bucket_for(33, batch_buckets(48)) == 48


def test_the_fill_ends_at_once_when_the_model_waits_for_work() -> None:
    # At low load the model is idle: a face must not wait batch_wait_ms for company.
    stream = FakeStream([0.0, 0.005, 0.01])
    batch = stream.collect(batch_max=8, batch_wait_ms=50, ready=lambda: True)
    assert batch == [0.0] and stream.now == 0.0, f"got {batch} at {stream.now}: the idle model was kept waiting"


def test_the_fill_goes_on_while_the_model_is_busy_and_stops_when_it_is_free() -> None:
    stream = FakeStream([0.0, 0.005, 0.01, 0.03])
    batch = stream.collect(batch_max=8, batch_wait_ms=50, ready=lambda: stream.now >= 0.012)
    assert batch == [0.0, 0.005, 0.01], f"got {batch}: the batch should fill until the model is free at 12 ms"
    assert stream.now < 0.02, f"filled until {stream.now}, after the model was free"
