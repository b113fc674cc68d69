"""The aggregator benchmark on a tiny load: it divides the sources and reports a rate per process."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.aggregator import measure, summarise


def test_the_window_is_taken_between_ten_and_ninety_percent() -> None:
    samples = [(0.0, 0, [0, 0], [0.0, 0.0, 0.0]), (1.0, 100, [60, 40], [0.5, 0.5, 0.2]), (3.0, 900, [500, 400], [2.5, 2.0, 1.0]),
               (4.0, 1000, [550, 450], [3.0, 2.5, 1.2])]
    result = summarise(2, 1000, samples, [4, 4])
    assert result.rate == 400 and result.per_process == [220, 180]
    assert result.cpu == [1.0, 0.75] and result.redis_cpu == 0.4


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_two_aggregators_divide_the_sources_and_both_count(tmp_path: Path) -> None:
    result = measure(tmp_path, processes=2, n_sources=4, events=20_000)
    assert result.sources == [2, 2], f"four sources over two aggregators: {result.sources}"
    assert all(rate > 0 for rate in result.per_process), f"each should count: {result.per_process}"
