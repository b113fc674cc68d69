"""``ingest.processes`` without ingest processes: who runs which source, how many children, their metrics summed, their restarts."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import redis
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from emostream.config import parse_config
from emostream.infra.cpufeatures import usable_cores
from emostream.ingest.control import owner, publish_state, read_workers
from emostream.ingest.processes import merge, process_count
from emostream.ingest.supervisor import STABLE_S, START_FAILURES, Supervisor
from emostream.streams.keys import Keys
from tests.conftest import free_port


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


class Clock:
    """The supervisor's monotonic clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


SPAWNED: list[bool] = []  # each start's ``again``, in order (the spawn below appends)


def _supervisor(command: list[str], port: int, clock: Clock, exit_at_end: bool = False) -> tuple[Supervisor, CollectorRegistry]:
    registry = CollectorRegistry()
    SPAWNED.clear()

    def spawn(_index: int, again: bool) -> subprocess.Popen[bytes]:
        SPAWNED.append(again)
        return subprocess.Popen(command)  # a real process: its exit status is what is read

    return Supervisor([["cam0"]], spawn, [port], registry, exit_at_end, clock=clock), registry


def _restarts(registry: CollectorRegistry) -> float | None:
    return registry.get_sample_value("emostream_ingest_child_restarts_total", {"child": "0"})


def _exited(supervisor: Supervisor) -> None:
    [child] = supervisor.children
    assert child.proc is not None
    child.proc.wait(10)


def test_a_child_that_was_up_is_started_again_each_time_it_dies_the_wait_doubling_until_it_stays_up() -> None:
    # Given a child whose /healthz answers (it has started well),
    class Healthz(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Healthz)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    clock = Clock()
    supervisor, registry = _supervisor(["sleep", "60"], server.server_address[1], clock)
    [child] = supervisor.children
    try:
        supervisor.start_all()
        assert _restarts(registry) == 0
        waits = []
        for _ in range(7):
            assert supervisor.poll() is None and child.state == "running"
            # when it is killed, it is started again after a wait that doubles up to 30 s, as often as it dies;
            assert child.proc is not None
            child.proc.kill()
            _exited(supervisor)
            assert supervisor.poll() is None and child.state == "down"
            assert child.due is not None
            waits.append(child.due - clock.now)
            clock.now = child.due
            assert supervisor.poll() is None and child.state == "starting"
            clock.now += 1.0
        assert [round(w / b, 1) for w, b in zip(waits, [1, 2, 4, 8, 16, 30, 30], strict=True)] == [pytest.approx(1, abs=0.2)] * 7, waits
        assert _restarts(registry) == 7
        assert SPAWNED == [False] + [True] * 7, "each start after a death is told so (--again-since): its ended files stay ended"
        # and once it has stayed up a minute, its next death waits a second again.
        assert supervisor.poll() is None and child.state == "running"
        clock.now += STABLE_S
        assert child.proc is not None
        child.proc.kill()
        _exited(supervisor)
        assert supervisor.poll() is None and child.due is not None and child.due - clock.now <= 1.2
    finally:
        for proc in supervisor.procs():
            proc.kill()
            proc.wait()
        server.shutdown()


def test_a_child_that_never_comes_up_stops_the_role_with_its_status_after_five_tries() -> None:
    clock = Clock()
    supervisor, registry = _supervisor(["sh", "-c", "exit 2"], free_port(), clock)  # nothing answers its /healthz
    supervisor.start_all()
    for tries in range(1, START_FAILURES):
        _exited(supervisor)
        assert supervisor.poll() is None, tries
        assert supervisor.children[0].due is not None
        clock.now = supervisor.children[0].due
        assert supervisor.poll() is None
    _exited(supervisor)
    assert supervisor.poll() == 2
    assert _restarts(registry) == START_FAILURES - 1


@pytest.mark.parametrize(("exit_at_end", "status"), [(True, 0), (False, None)])
def test_a_child_that_exits_0_is_done_only_when_the_role_ends_with_its_files(exit_at_end: bool, status: int | None) -> None:
    clock = Clock()
    supervisor, _ = _supervisor(["true"], free_port(), clock, exit_at_end=exit_at_end)
    supervisor.start_all()
    _exited(supervisor)
    assert supervisor.poll() == status
    assert supervisor.children[0].state == ("done" if exit_at_end else "down")
