"""Run-time source changes: what a worker should run, given its configuration and the Redis hash."""

from __future__ import annotations

import json

from emostream.config import IngestConfig, SourceConfig
from emostream.ingest.control import parse_overrides, wanted_sources, worker_name


def entry(**body: object) -> bytes:
    return json.dumps(body).encode()


def test_additions_and_removals_apply_on_top_of_the_configuration() -> None:
    configured = [SourceConfig(id="cam1", url="rtsp://a/1"), SourceConfig(id="cam2", url="rtsp://a/2")]
    overrides = parse_overrides({
        b"cam2": entry(op="remove"),
        b"cam3": entry(op="add", source={"id": "cam3", "url": "rtsp://a/3", "fps": 5}, ts=1.0),
    })
    wanted = wanted_sources(configured, overrides)
    assert sorted(wanted) == ["cam1", "cam3"], wanted
    assert wanted["cam1"].origin == "config" and wanted["cam3"].origin == "runtime"
    assert wanted["cam3"].source.fps == 5


def test_a_run_time_entry_replaces_a_configured_source_of_the_same_id() -> None:
    configured = [SourceConfig(id="cam1", url="rtsp://old/1")]
    overrides = parse_overrides({b"cam1": entry(op="add", source={"id": "cam1", "url": "rtsp://new/1"}, ts=2.0)})
    assert wanted_sources(configured, overrides)["cam1"].source.url == "rtsp://new/1"


def test_a_re_added_source_gets_a_new_revision_so_it_restarts() -> None:
    first = parse_overrides({b"f": entry(op="add", source={"id": "f", "url": "/clips/a.mp4"}, ts=1.0)})
    again = parse_overrides({b"f": entry(op="add", source={"id": "f", "url": "/clips/a.mp4"}, ts=2.0)})
    assert first.added["f"].revision != again.added["f"].revision


def test_malformed_entries_are_reported_and_ignored() -> None:
    overrides = parse_overrides({
        b"bad1": b"not json",
        b"bad2": entry(op="add", source={"id": "bad2", "url": "x", "colour": "red"}),
        b"bad3": entry(op="add", source={"id": "other", "url": "x"}),
        b"bad4": entry(op="explode"),
        b"good": entry(op="add", source={"id": "good", "url": "x"}),
    })
    assert sorted(overrides.invalid) == ["bad1", "bad2", "bad3", "bad4"], overrides.invalid
    assert "colour" in overrides.invalid["bad2"], "the reason should name the unknown key"
    assert list(overrides.added) == ["good"]


def test_the_worker_name_defaults_to_a_key_safe_host_name() -> None:
    assert worker_name(IngestConfig(name="edge-1")) == "edge-1"
    name = worker_name(IngestConfig())
    assert name and all(c.isalnum() or c in "_.-" for c in name), name
