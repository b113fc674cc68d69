"""A live source is read at its own pace: the documented camera stand-in does not burn a core.

A real ingest process on ``lavfi:testsrc`` (FFmpeg renders it as fast as the CPU
goes unless paced), scraped over HTTP: its own ``process_cpu_seconds_total``
over a few seconds, and the frames it analysed and skipped meanwhile. Before
pacing, the same source took 93 % of a core and skipped ~7,000 frames a second.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.classifier.procs import Procs, healthy, metric, scrape
from tests.conftest import free_port

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="process CPU time comes from Linux /proc")]

RATE = 10  # frames per second of the source, equal to the source's fps setting
WINDOW_S = 6.0


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Procs]:
    running = Procs(tmp_path)
    yield running
    running.stop_all()


@pytest.mark.timeout(180)
def test_a_lavfi_source_is_read_at_its_frame_rate_with_little_cpu(make_config: Any, procs: Procs) -> None:
    # Given ingest on the camera stand-in of the docs, analysing up to its own frame rate,
    port = free_port()
    url = f"lavfi:testsrc=size=320x240:rate={RATE}"
    procs.start("ingest", make_config(sources=[{"id": "lobby", "url": url, "fps": RATE}], http={"ingest_port": port}), "ingest")

    def analysed(samples: dict[Any, float]) -> float:
        return metric(samples, "emostream_ingest_frames_total", source="lobby", outcome="analysed")

    procs.wait_for(lambda: healthy(port) and analysed(scrape(port)) >= 5, 120, "ingest analyses frames of the lavfi source")
    # when it runs for a few seconds (start-up, the detector's loading, is left out),
    before, began = scrape(port), time.monotonic()
    time.sleep(WINDOW_S)
    after, wall = scrape(port), time.monotonic() - began
    cpu = metric(after, "process_cpu_seconds_total") - metric(before, "process_cpu_seconds_total")
    frames = analysed(after) - analysed(before)
    skipped = metric(after, "emostream_ingest_frames_total", source="lobby", outcome="skipped") - metric(
        before, "emostream_ingest_frames_total", source="lobby", outcome="skipped"
    )
    # then it analyses about the source's rate, skips next to nothing, and uses a small share of a core.
    assert 0.7 * RATE * wall <= frames <= 1.15 * RATE * wall, f"{frames} frames analysed in {wall:.1f} s from a {RATE} frames/s source"
    assert skipped <= 0.2 * frames, f"{skipped} frames skipped for {frames} analysed: the source is decoded faster than its rate"
    assert cpu / wall < 0.4, f"ingest used {cpu / wall:.0%} of a core on a {RATE} frames/s 320x240 test pattern\n{procs.logs()}"
