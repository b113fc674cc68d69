"""Adding and removing sources while ingest runs, through `emostream sources`, without disturbing the others."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from emostream.cli import main
from emostream.ingest.worker import IngestWorker
from emostream.streams.lifecycle import SessionEnd, SessionStart
from tests.helpers import wait_for
from tests.support.ingest import lifecycle, metric

GEN = "lavfi:testsrc=size=160x120:rate=10"


@pytest.fixture
def cli(redis_server: Any, prefix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Run `emostream --config <test config> sources ...` in-process; returns (exit status, stdout, stderr)."""
    config_file = tmp_path / "cli.yaml"
    config_file.write_text(yaml.safe_dump({"redis": {"url": redis_server.url, "prefix": prefix}}))

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(["--config", str(config_file), "sources", *args])
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def starts(client: redis.Redis, prefix: str, source: str) -> list[SessionStart]:
    return [m for m in lifecycle(client, prefix) if isinstance(m, SessionStart) and m.source == source]


def analysed(worker: IngestWorker, source: str) -> float:
    return metric(worker, "emostream_ingest_frames_total", source=source, outcome="analysed")


def test_adding_and_removing_a_source_leaves_the_others_untouched(
    make_config: Any, run_worker: Callable[..., IngestWorker], rclient: redis.Redis, prefix: str, cli: Callable[..., tuple[int, str, str]]
) -> None:
    config = make_config(sources=[{"id": "cam1", "url": GEN, "fps": 5}], detector={"backend": "haar"}, ingest={"name": "edge1"})
    worker = run_worker(config)
    wait_for(lambda: analysed(worker, "cam1") >= 2, 60, "cam1 never analysed a frame")
    cam1_runner, [cam1_session] = worker.runners["cam1"], starts(rclient, prefix, "cam1")

    code, out, err = cli("add", "cam2", GEN, "--fps", "5")
    assert code == 0 and "added cam2" in out and "edge1" in out, out + err
    wait_for(lambda: analysed(worker, "cam2") >= 2, 30, "the added source never analysed a frame")

    code, out, _ = cli("list")
    assert code == 0 and "ingest worker edge1" in out, out
    assert "cam1" in out and "cam2" in out and "runtime" in out, out

    code, out, err = cli("remove", "cam2")
    assert code == 0 and "removed cam2" in out, out + err
    ended = wait_for(lambda: [m for m in lifecycle(rclient, prefix) if isinstance(m, SessionEnd) and m.source == "cam2"], 15, "no end")
    assert ended[0].reason == "stopped", ended
    assert "cam2" not in worker.runners

    # cam1 was never restarted: same thread, one session, still analysing.
    assert worker.runners["cam1"] is cam1_runner and cam1_runner.thread.is_alive()
    assert [s.session for s in starts(rclient, prefix, "cam1")] == [cam1_session.session], "cam1 must keep its one session"
    before = analysed(worker, "cam1")
    wait_for(lambda: analysed(worker, "cam1") > before, 10, "cam1 stopped analysing after cam2 was removed")


def test_sources_added_at_run_time_come_back_after_a_restart_and_removed_ones_stay_removed(
    make_config: Any, run_worker: Callable[..., IngestWorker], cli: Callable[..., tuple[int, str, str]]
) -> None:
    config = make_config(sources=[{"id": "cam1", "url": GEN, "fps": 2}], detector={"backend": "haar"}, ingest={"name": "edge1"})
    first = run_worker(config)
    wait_for(lambda: first.health()["sources"], 30, "the worker never reported its sources")
    assert cli("add", "extra", GEN, "--fps", "2")[0] == 0
    assert cli("remove", "cam1")[0] == 0
    first.stop.set()
    wait_for(lambda: not first.runners or not any(r.thread.is_alive() for r in first.runners.values()), 30, "the first worker did not stop")

    second = run_worker(config)
    wait_for(lambda: "extra" in second.runners, 15, "the source added at run time should come back")
    assert "cam1" not in second.runners, "a configured source removed at run time stays removed after a restart"


def test_user_errors_are_one_clear_line(
    make_config: Any, run_worker: Callable[..., IngestWorker], cli: Callable[..., tuple[int, str, str]]
) -> None:
    code, _, err = cli("add", "cam9", GEN)
    assert code == 2 and "no ingest worker is running" in err, err
    worker = run_worker(make_config(sources=[{"id": "cam1", "url": GEN, "fps": 2}], detector={"backend": "haar"}, ingest={"name": "edge1"}))
    wait_for(lambda: "cam1" in worker.health()["sources"], 30, "the worker never reported its sources")  # type: ignore[operator]
    wait_for(lambda: "edge1" in cli("list")[1], 10, "the worker never published its state")
    code, _, err = cli("add", "cam1", GEN)
    assert code == 2 and "already has a source 'cam1'" in err and "--replace" in err, err
    code, _, err = cli("add", "bad id!", GEN)
    assert code == 2 and "invalid source" in err and "id" in err, err
    code, _, err = cli("remove", "ghost")
    assert code == 2 and "no running ingest worker has a source 'ghost'" in err, err


def test_a_worker_without_sources_waits_for_them(
    make_config: Any, run_worker: Callable[..., IngestWorker], cli: Callable[..., tuple[int, str, str]]
) -> None:
    worker = run_worker(make_config(sources=[], detector={"backend": "haar"}, ingest={"name": "edge1"}))
    wait_for(lambda: "edge1" in cli("list")[1], 10, "the worker never published its state")
    code, out, err = cli("add", "late", GEN, "--fps", "2")
    assert code == 0 and "added late" in out, out + err
    wait_for(lambda: analysed(worker, "late") >= 1, 30, "the source added to an empty worker never ran")


def test_configured_sources_start_even_when_the_run_time_changes_cannot_be_read(
    make_config: Any, run_worker: Callable[..., IngestWorker], monkeypatch: pytest.MonkeyPatch
) -> None:
    from emostream.ingest import control

    def refused(*_: object) -> control.Overrides:
        raise redis.ConnectionError("Redis is restarting")

    monkeypatch.setattr(control, "read_overrides", refused)
    worker = run_worker(make_config(sources=[{"id": "cam1", "url": GEN, "fps": 2}], detector={"backend": "haar"}))
    wait_for(lambda: analysed(worker, "cam1") >= 1, 30, "a configured source must run even if its run-time changes are unreadable")
