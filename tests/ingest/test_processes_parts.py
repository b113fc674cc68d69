"""``ingest.processes`` without processes: who runs which source, how many children, the children's metrics summed."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import redis
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from emostream.config import parse_config
from emostream.ingest.control import owner, publish_state, read_workers
from emostream.ingest.processes import merge, process_count, usable_cores
from emostream.streams.keys import Keys


def test_configured_sources_are_dealt_evenly_and_every_source_has_one_owner() -> None:
    configured = [f"clip{i}" for i in range(9)]
    owners = [owner(s, configured, 2) for s in configured]
    assert sorted(owners).count(0) == 5 and owners.count(1) == 4, owners
    assert owner("clip3", list(reversed(configured)), 2) == owner("clip3", configured, 2), "the order in the file does not matter"
    # A run-time source's owner is a function of its id alone, the same in every child; ids spread over the processes.
    late = [owner(f"cam-{i}", configured, 3) for i in range(60)]
    assert late == [owner(f"cam-{i}", configured, 3) for i in range(60)] and set(late) == {0, 1, 2}


def test_a_role_starts_at_most_one_process_per_configured_source(make_config: Any) -> None:
    sources = [{"id": f"s{i}", "url": "/clips/a.mp4"} for i in range(3)]
    assert process_count(make_config(sources=sources, ingest={"processes": 2})) == 2
    assert process_count(make_config(sources=sources, ingest={"processes": 8})) == 3
    assert process_count(make_config(sources=sources[:1], ingest={"processes": 0})) == 1
    assert process_count(make_config(ingest={"processes": 4})) == 4, "run-time sources only: all of them"
    assert parse_config({}, "test").ingest.processes == 1


def test_one_per_core_counts_the_cores_a_container_may_use(tmp_path: Path) -> None:
    cpu_max = tmp_path / "cpu.max"
    cpu_max.write_text("150000 100000\n")  # a limit of 1.5 CPUs
    assert usable_cores(cpu_max) == min(2, len(os.sched_getaffinity(0)))
    cpu_max.write_text("max 100000\n")
    assert usable_cores(cpu_max) == len(os.sched_getaffinity(0))


def _exposition(frames: float, source: str, start: float) -> str:
    registry = CollectorRegistry()
    Counter("emostream_ingest_frames", "frames", ["source", "outcome"], registry=registry).labels(source, "analysed").inc(frames)
    Counter("emostream_faults", "faults", ["site"], registry=registry).labels("x").inc(1)
    Gauge("process_start_time_seconds", "start", registry=registry).set(start)
    return generate_latest(registry).decode()


def test_the_childrens_series_are_summed_and_start_times_take_the_earliest() -> None:
    families = {f.name: f for f in merge([_exposition(60, "cam0", 200.0), _exposition(45, "cam1", 100.0)])}
    frames = {s.labels["source"]: s.value for s in families["emostream_ingest_frames"].samples if s.name.endswith("_total")}
    assert frames == {"cam0": 60, "cam1": 45}
    assert [s.value for s in families["emostream_faults"].samples if s.name.endswith("_total")] == [2]
    assert [s.value for s in families["process_start_time_seconds"].samples] == [100.0]


def test_the_children_of_a_role_are_listed_as_the_role(rclient: redis.Redis, prefix: str) -> None:
    keys = Keys(prefix)
    src: dict[str, Any] = {"id": "cam0", "state": "running", "live": False, "origin": "config", "url": "a.mp4"}
    publish_state(rclient, keys, "host.0", [src], group="host")
    publish_state(rclient, keys, "host.1", [{**src, "id": "cam1"}], group="host")
    publish_state(rclient, keys, "other", [{**src, "id": "cam2"}])
    workers = read_workers(rclient, keys)
    assert sorted(workers) == ["host", "other"], json.dumps(workers)
    assert sorted(s["id"] for s in workers["host"]["sources"]) == ["cam0", "cam1"]
