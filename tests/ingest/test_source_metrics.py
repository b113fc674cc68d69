"""A source's metric series exist from its start and are gone once it is removed at run time."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from emostream.cli import main
from emostream.ingest.worker import IngestWorker
from tests.helpers import wait_for
from tests.support.ingest import metric

GEN = "lavfi:testsrc=size=160x120:rate=10"


def series_of(worker: IngestWorker, source: str) -> list[str]:
    return [s.name for family in worker.registry.collect() for s in family.samples if s.labels.get("source") == source]


def test_a_removed_source_stops_reporting_and_alerting(
    make_config: Any, run_worker: Callable[..., IngestWorker], redis_server: Any, prefix: str, tmp_path: Path
) -> None:
    cli_config = tmp_path / "cli.yaml"
    cli_config.write_text(yaml.safe_dump({"redis": {"url": redis_server.url, "prefix": prefix}}))
    config = make_config(sources=[{"id": "cam1", "url": GEN, "fps": 5}], detector={"backend": "haar"}, ingest={"name": "edge1"})
    worker = run_worker(config)
    wait_for(lambda: metric(worker, "emostream_ingest_frames_total", source="cam1", outcome="analysed") >= 1, 60, "cam1 never analysed")

    # Given a source added at run time: its counters exist at 0 before anything happened to it
    assert main(["--config", str(cli_config), "sources", "add", "cam2", GEN, "--fps", "5"]) == 0
    wait_for(lambda: "cam2" in worker.runners, 30, "cam2 never started")
    labels = {"source": "cam2", "detector": "haar", "outcome": "published"}
    assert worker.registry.get_sample_value("emostream_ingest_faces_total", labels) is not None, "cam2's faces counter must exist"
    assert worker.registry.get_sample_value("emostream_ingest_reconnects_total", {"source": "cam2"}) == 0.0
    wait_for(lambda: metric(worker, "emostream_ingest_source_up", source="cam2") == 1, 30, "cam2 never came up")

    # When it is removed
    assert main(["--config", str(cli_config), "sources", "remove", "cam2"]) == 0

    # Then every series labelled with it goes (so EmostreamSourceDown cannot fire for it), and cam1 keeps its own
    wait_for(lambda: not series_of(worker, "cam2"), 30, f"cam2's series stayed: {series_of(worker, 'cam2')}")
    assert metric(worker, "emostream_ingest_source_up", source="cam1") == 1
    assert "emostream_ingest_frames_total" in series_of(worker, "cam1")
