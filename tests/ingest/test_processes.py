"""``ingest.processes``: one ingest role divided over child processes, against the test session's Redis.

Real processes (``python -m emostream ingest``): the sources of a role with
two processes are published exactly as by one process (the same faces, each
once), the role's endpoints show both children, and the children end when
the parent is killed.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from emostream.config import SourceConfig
from emostream.ingest.control import read_workers, request_add
from emostream.streams.keys import Keys
from tests.classifier.procs import Procs, healthy, metric, scrape
from tests.conftest import free_port
from tests.helpers import alive
from tests.support.ingest import ends, faces

pytestmark = pytest.mark.slow

IDS = ["cam0", "cam1", "cam2", "cam3"]


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Procs]:
    running = Procs(tmp_path)
    yield running
    running.stop_all()


def _config(make_config: Any, clip: Path, prefix: str, processes: int, **ingest: Any) -> Any:
    return make_config(
        redis={"prefix": prefix},
        sources=[{"id": i, "url": str(clip), "every_nth": 3} for i in IDS],
        ingest={"processes": processes, "backlog_max": 1_000_000, **ingest},  # nothing consumes: files must not wait
    )


def _published(rclient: redis.Redis, prefix: str) -> Counter[tuple[str, int, int]]:
    return Counter((job.source, job.seq, job.track) for job in faces(rclient, prefix))


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except FileNotFoundError:  # a thread that ended while we listed them (a loaded machine's CI caught it)
            continue
    return found


def test_two_processes_publish_every_face_of_every_source_once_as_one_process_does(
    make_config: Any, rclient: redis.Redis, prefix: str, demo_clip: Path, procs: Procs
) -> None:
    # Given four file sources,
    published = {}
    for processes in (1, 2):
        # when an ingest role with 1 and then 2 processes runs them to their end,
        role_prefix = f"{prefix}p{processes}"
        proc = procs.start(f"ingest{processes}", _config(make_config, demo_clip, role_prefix, processes), "ingest")
        assert proc.wait(240) == 0, procs.logs()
        assert all(len(ends(rclient, role_prefix, i)) == 1 for i in IDS), procs.logs()
        published[processes] = _published(rclient, role_prefix)
    # then each face of each source is published once, the same faces as one process publishes.
    assert published[2] and max(published[2].values()) == 1, [k for k, n in published[2].items() if n > 1][:5]
    assert {s for s, _, _ in published[2]} == set(IDS)
    assert published[2] == published[1]
    assert "2 processes" in procs.log("ingest2")


def test_the_role_shows_its_children_together_and_they_end_with_it(
    make_config: Any, rclient: redis.Redis, prefix: str, demo_clip: Path, procs: Procs
) -> None:
    # Given a role with two processes that stays up after its files end,
    port = free_port()
    config = _config(make_config, demo_clip, prefix, 2, exit_at_end=False)
    config = config.model_copy(update={"http": config.http.model_copy(update={"ingest_port": port})})
    parent = procs.start("ingest", config, "ingest")
    procs.wait_for(lambda: all(len(ends(rclient, prefix, i)) == 1 for i in IDS) and healthy(port), 240, "every source ended")
    # its one port shows every source's frames (each counted by the child that ran it),
    samples = scrape(port)
    for i in IDS:
        assert metric(samples, "emostream_ingest_frames_total", source=i, outcome="analysed") == 60, i
    kids = children(parent.pid)
    assert len(kids) == 2
    # `emostream sources list` shows one worker, the role, running the four sources of both children,
    [(name, state)] = read_workers(rclient, Keys(prefix)).items()
    assert sorted(s["id"] for s in state["sources"]) == IDS and len(state["pid"].split(",")) == 2, state
    # a source added at run time under the role's name is run by the child that owns it,
    request_add(rclient, Keys(prefix), name, SourceConfig(id="late", url=str(demo_clip), every_nth=3))
    procs.wait_for(lambda: len(ends(rclient, prefix, "late")) == 1, 120, "the run-time source ended")
    assert len(faces(rclient, prefix, "late")) == ends(rclient, prefix, "late")[0].faces > 0
    # and when the parent is killed outright, its children end too.
    procs.kill("ingest")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(alive(k) for k in kids):
        time.sleep(0.2)
    assert not [k for k in kids if alive(k)], procs.logs()

