"""Every worker exports its process (memory, CPU, open files) and build information on its own /metrics.

A real aggregator against the test Redis, scraped over HTTP; the end-to-end test
(tests/e2e/test_pipeline.py) checks the same series on all three role processes.
"""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

import pytest

from emostream.aggregator.worker import AggregatorWorker
from emostream.infra.buildinfo import package_version
from tests.classifier.procs import metric, scrape

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="process_* series come from Linux /proc")


def test_a_worker_serves_process_and_build_info_series(make_config: Any) -> None:
    worker = AggregatorWorker(make_config())
    worker.start_http()
    assert worker.http is not None
    try:
        samples = scrape(worker.http.port)
    finally:
        worker.http.stop()
    rss = metric(samples, "process_resident_memory_bytes")
    assert rss > 10 * 2**20, f"resident memory {rss} bytes: the process collector reads this process's /proc"
    assert metric(samples, "process_open_fds") >= 3 and metric(samples, "process_cpu_seconds_total") > 0
    assert metric(samples, "process_start_time_seconds") > 0
    build = {labels: value for (name, labels), value in samples.items() if name == "emostream_build_info"}
    assert build == {(("python", platform.python_version()), ("version", package_version())): 1.0}, build
    assert metric(samples, "python_info", implementation=platform.python_implementation()) == 1.0
