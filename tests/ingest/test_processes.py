"""``ingest.processes``: one ingest role divided over child processes, against the test session's Redis.

Real processes (``python -m emostream ingest``): the sources of a role with
two processes are published exactly as by one process (the same faces, each
once), the role's endpoints show both children, and the children end when
the parent is killed. A child killed outright is started again alone and
its sources resume; one that cannot start stops the role after a few tries.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from emostream.config import SourceConfig
from emostream.ingest.control import owner, read_workers, request_add
from emostream.streams.keys import Keys
from tests.classifier.procs import Procs, healthy, metric, scrape
from tests.conftest import free_port
from tests.helpers import alive, wait_for
from tests.support.ingest import ends, faces, lifecycle

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


def shares(pid: int) -> dict[int, int]:
    """The children of an ingest role by their share: {I: pid} (``--share I/N``, then their title ``emostream.ingest[I/N]``)."""
    found = {}
    for child in children(pid):
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes().decode(errors="replace")
        except FileNotFoundError:  # it ended while we listed them
            continue
        share = re.search(r"--share\x00(\d+)/|emostream\.ingest\[(\d+)/", command)
        if share:  # a zombie's command line is empty
            found[int(share.group(1) or share.group(2))] = child
    return found


def role_health(port: int) -> dict[str, Any] | None:
    """The role's /healthz body, 200 or 503; None while it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as reply:
            body: dict[str, Any] = json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        body = json.loads(exc.read())
    except OSError:
        return None
    return body


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



def test_a_killed_child_is_started_again_alone_and_its_sources_resume_where_they_were(
    make_config: Any, rclient: redis.Redis, prefix: str, demo_clip: Path, procs: Procs
) -> None:
    # Given a role with two processes playing four files at the clip's pace (12 s each), up after they end,
    port = free_port()
    config = make_config(
        sources=[{"id": i, "url": str(demo_clip), "every_nth": 3, "realtime": True} for i in IDS],
        ingest={"processes": 2, "exit_at_end": False, "backlog_max": 1_000_000},
        http={"ingest_port": port},
    )
    parent = procs.start("ingest", config, "ingest")
    resumed = [i for i in IDS if owner(i, IDS, 2) == 1]
    # (child 1's sources only: on a loaded machine child 0 may start seconds later, and child 1's 12 s files would end)
    procs.wait_for(lambda: all(len(faces(rclient, prefix, i)) >= 20 for i in resumed), 120, "child 1's sources published 20 faces")
    kids = shares(parent.pid)
    assert sorted(kids) == [0, 1], kids
    assert not any(ends(rclient, prefix, i) for i in resumed), "the files of child 1 ended before it could be killed"
    # when child 1 is killed outright in the middle of its files,
    os.kill(kids[1], signal.SIGKILL)
    # then it is started again (a new pid), the role staying up and child 0 untouched,
    procs.wait_for(lambda: shares(parent.pid).get(1) not in (None, kids[1]), 60, "child 1 started again")
    procs.wait_for(lambda: all(len(ends(rclient, prefix, i)) == 1 for i in IDS), 120, "every source ended")
    procs.wait_for(lambda: healthy(port), 60, "the role is well again")
    assert shares(parent.pid)[0] == kids[0]
    samples = scrape(port)
    assert metric(samples, "emostream_ingest_child_restarts_total", child="1") == 1, procs.logs()
    assert metric(samples, "emostream_ingest_child_restarts_total", child="0") == 0
    text = procs.log("ingest")
    assert f"process 1/2 (pid {kids[1]}; sources {', '.join(resumed)}) was killed by SIGKILL; starting it again in" in text, text
    # and every source went on with its one session: every frame analysed once, every face published once.
    published = _published(rclient, prefix)
    assert published and max(published.values()) == 1, [k for k, n in published.items() if n > 1][:5]
    starts = Counter(m.source for m in lifecycle(rclient, prefix) if m.kind == "start")
    assert starts == Counter(IDS), starts
    counts = {i: sum(1 for s, _, _ in published if s == i) for i in IDS}
    for i in IDS:
        [end] = ends(rclient, prefix, i)
        assert (end.reason, end.frames_analysed, end.faces) == ("eof", 60, counts[i]), (i, end)
    untouched = counts[next(i for i in IDS if i not in resumed)]
    for i in resumed:  # a resumed session detects on its first frame again: at most a face or two more or less than without the restart
        assert abs(counts[i] - untouched) <= 3, counts


def test_a_child_that_keeps_failing_at_start_up_stops_the_role_with_its_status(make_config: Any, demo_clip: Path, procs: Procs) -> None:
    # Given a role with two processes whose children cannot start (no Redis at that address: status 2; the parent needs none),
    port = free_port()
    config = make_config(
        redis={"url": f"redis://127.0.0.1:{free_port()}", "startup_wait_s": 0, "connect_timeout_s": 1},
        sources=[{"id": i, "url": str(demo_clip)} for i in IDS],
        ingest={"processes": 2, "exit_at_end": False},
        http={"ingest_port": port},
    )
    parent = procs.start("ingest", config, "ingest")
    procs.killed.add("ingest")  # its exit is what this test waits for
    # while a child waits to be started again, the role's /healthz says it is down,
    wait_for(lambda: (h := role_health(port)) and not h["ok"] and "down" in h["children"].values(), 60, "a child down\n" + procs.logs())
    # and after its fifth failed start the role stops with the children's status, saying why in one line.
    assert parent.wait(120) == 2, procs.logs()
    text = procs.log("ingest")
    assert text.count("exited with status 2; starting it again in") >= 4, text
    assert "exited with status 2 before it was up, 5 times in a row; stopping the role" in text, text
