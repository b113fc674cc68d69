"""Files in summary_dir: never written through a planted symlink; disk faults named, unhealthy, no temp files left.

Session ids are readable from the lifecycle stream while a session runs, so
anyone who can write to summary_dir can plant a link at a predictable name
before the session ends; the aggregator runs as root in the container.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.aggregator.support import run_until_summary, step, stepped
from tests.hostile.support import sample, session

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize("planted", [("cam1-a.tmp", "cam1-a.timeline.tmp"), ("cam1-a.json",)], ids=["temp names", "final name"])
def test_a_symlink_planted_at_a_temp_or_final_name_is_never_followed(
    make_config: Any, rclient: redis.Redis, tmp_path: Path, no_wait: None, caplog: pytest.LogCaptureFixture, planted: tuple[str, ...]
) -> None:
    # Given links at the session's (once predictable) temp names, or at its JSON's final name, pointing at files outside summary_dir
    config = make_config(aggregator={"reorder_ms": 0})
    folder = Path(config.aggregator.summary_dir)
    folder.mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    victims = {name: outside / f"victim-{i}" for i, name in enumerate(planted)}
    for name, victim in victims.items():
        victim.write_text("precious\n")
        (folder / name).symlink_to(victim)
    worker = stepped(config)
    session(rclient, worker, "cam1-a")
    # When the session is summarised
    with caplog.at_level(logging.WARNING):
        summary = run_until_summary(worker, rclient, "cam1-a")
        step(worker, 3)
    # Then no file outside was touched and the chart was written; a link at the final name was refused and reported
    assert summary["faces"] == 3
    assert all(victim.read_text() == "precious\n" for victim in victims.values())
    assert (folder / "cam1-a.timeline.png").is_file() and not (folder / "cam1-a.timeline.png").is_symlink()
    if "cam1-a.json" in planted:
        assert (folder / "cam1-a.json").is_symlink(), "the planted link is left as it was, not replaced or followed"
        assert any("symlink" in r.getMessage() for r in caplog.records), [r.getMessage() for r in caplog.records]
        assert sample(worker, "emostream_aggregator_sessions_incomplete_total", part="summary_file") == 1
    else:
        assert json.loads((folder / "cam1-a.json").read_text())["faces"] == 3
    assert not [p.name for p in folder.iterdir() if p.name.endswith(".tmp") and not p.is_symlink()]


@contextlib.contextmanager
def tiny_tmpfs(path: Path, size: str = "64k") -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): {result.stderr.strip()[:200]}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_a_full_disk_is_named_counted_unhealthy_and_leaves_no_temp_files(
    make_config: Any, rclient: redis.Redis, no_wait: None, caplog: pytest.LogCaptureFixture
) -> None:
    config = make_config(aggregator={"reorder_ms": 0})
    folder = Path(config.aggregator.summary_dir)
    with tiny_tmpfs(folder):
        # Given a summary_dir on a 64 KiB tmpfs that a file has filled
        filler = folder / "filler"
        with contextlib.suppress(OSError), filler.open("wb") as out:
            out.write(b"\0" * 128 * 1024)
        worker = stepped(config)
        session(rclient, worker, "cam1-a", faces=20)
        # When a session ends
        with caplog.at_level(logging.INFO):
            summary = run_until_summary(worker, rclient, "cam1-a")
        # Then it is still published (in Redis), the fault has its own line and metric, /healthz is unhealthy, no temp file stays
        assert summary["faces"] == 20
        lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert any("cannot write summaries" in line and "no_space" in line for line in lines), lines
        assert not any("lost Redis" in line for line in lines), lines
        assert sample(worker, "emostream_aggregator_disk_errors_total", cause="no_space") >= 1
        assert sample(worker, "emostream_aggregator_disk_errors_total", cause="read_only") == 0  # initialised
        assert worker.health()["ok"] is False and worker.health()["disk"] == "no_space"
        assert sorted(p.name for p in folder.iterdir()) == ["filler"]
        # And once there is room again, the next session's files are written and health is back
        filler.unlink()
        session(rclient, worker, "cam1-b")
        run_until_summary(worker, rclient, "cam1-b")
        assert worker.health()["ok"] is True
        assert sorted(p.name for p in folder.iterdir()) == ["cam1-b.json", "cam1-b.timeline.png"]


def test_a_read_only_summary_dir_is_named_and_unhealthy(make_config: Any, rclient: redis.Redis, no_wait: None) -> None:
    config = make_config(aggregator={"reorder_ms": 0})
    folder = Path(config.aggregator.summary_dir)
    with tiny_tmpfs(folder, "1m"):
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
        worker = stepped(config)
        session(rclient, worker, "cam1-a")
        assert run_until_summary(worker, rclient, "cam1-a")["faces"] == 3
        assert sample(worker, "emostream_aggregator_disk_errors_total", cause="read_only") >= 1
        assert worker.health()["ok"] is False
        assert os.listdir(folder) == []
