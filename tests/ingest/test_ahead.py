"""Work ahead on a thread: order kept, errors in their place, at most ``depth`` ahead, closed on the producer's thread."""

from __future__ import annotations

import threading
from collections.abc import Generator

import pytest

from emostream.ingest.ahead import Ahead
from tests.helpers import wait_for


class Produced:
    """A generator that records how far it got and on which thread its ``finally`` ran."""

    def __init__(self, count: int, fail_at: int | None = None) -> None:
        self.count, self.fail_at = count, fail_at
        self.made = 0
        self.closed_on: str | None = None

    def items(self) -> Generator[int, None, None]:
        try:
            for i in range(self.count):
                if i == self.fail_at:
                    raise ValueError(f"broken at {i}")
                self.made += 1
                yield i
        finally:
            self.closed_on = threading.current_thread().name


def test_items_arrive_in_order_and_the_generator_is_closed_on_the_producer_thread() -> None:
    produced = Produced(50)
    ahead = Ahead(produced.items(), depth=3, name="decode:test")
    assert list(ahead) == list(range(50))
    assert ahead.close(1.0), "the producer finished"
    assert produced.closed_on == "decode:test", f"the generator's finally ran on {produced.closed_on}, not the producer thread"


def test_an_error_of_the_producer_is_raised_after_the_items_before_it() -> None:
    ahead = Ahead(Produced(10, fail_at=4).items(), depth=2, name="decode:test")
    got: list[int] = []
    with pytest.raises(ValueError, match="broken at 4"):
        for item in ahead:
            got.append(item)
    assert got == [0, 1, 2, 3], "the items before the error, then the error"


def test_the_producer_runs_at_most_depth_items_ahead_of_a_consumer_that_waits() -> None:
    # Given a consumer that took one item and stopped taking
    produced = Produced(100)
    ahead = Ahead(produced.items(), depth=2, name="decode:test")
    first = next(iter(ahead))
    # then the producer holds 2 more in the queue and is blocked handing on a third: 4 made, no more
    wait_for(lambda: produced.made >= 4, 5, "the producer never filled its queue")
    threading.Event().wait(0.05)
    assert first == 0 and produced.made == 4, f"made {produced.made}: one taken, two queued, one waiting to be queued"
    assert ahead.close(1.0)
    assert produced.made == 4 and produced.closed_on == "decode:test", "closing stops the producer where it stands"


def test_depth_below_one_is_refused() -> None:
    with pytest.raises(ValueError):
        Ahead(Produced(1).items(), depth=0, name="decode:test")
