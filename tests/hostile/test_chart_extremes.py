"""The chart of a session with extreme but in-range values is drawn, quickly and without overflow."""

from __future__ import annotations

import time

import pytest

from emostream.aggregator.summary import render_timeline_png

TEN_YEARS = 10 * 366 * 86_400


@pytest.mark.timeout(60)
def test_a_chart_spanning_ten_years_in_many_buckets_is_drawn_in_bounded_time() -> None:
    # Given a session with a face at every 1-s bucket of its first hour and one ten years later, each of a day's interval
    buckets = [{"index": i, "seconds": {"happy": 86_400.0, "sad": 1.0}} for i in range(3_600)]
    buckets.append({"index": TEN_YEARS, "seconds": {"neutral": 86_400.0 * 2**20}})
    summary = {"source": "cam1", "session": "cam1-x", "chart": {"bucket_s": 1, "buckets": buckets}}
    # When its chart is drawn
    began = time.monotonic()
    png = render_timeline_png(summary)
    # Then it is a PNG, drawn in a few seconds at most
    assert png.startswith(b"\x89PNG") and time.monotonic() - began < 10
