"""A file played to its end is not played again when its ingest restarts (issue 25), with a real Redis and real decoding."""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

from emostream.config import Config
from emostream.ingest.policy import SourceState
from emostream.ingest.worker import IngestWorker
from emostream.streams.lifecycle import SessionStart
from tests.helpers import wait_for
from tests.support.ingest import ends, faces, lifecycle

EVERY_NTH = 6  # 30 of the demo clip's 180 frames: quick, and still faces in every session


@contextmanager
def running(config: Config, ended_since: float | None = None) -> Iterator[IngestWorker]:
    """One ingest worker on a thread, stopped and joined on leaving: a restart is the next ``running``
    (``ended_since``: as a child of an ingest role started again after it died, ``--again-since``)."""
    worker = IngestWorker(config, ended_since=ended_since)
    thread = threading.Thread(target=worker.run, name="test-ingest", daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        worker.stop.set()
        thread.join(30)
        assert not thread.is_alive(), "the ingest worker did not stop within 30 s"


def ended(worker: IngestWorker) -> bool:
    runner = worker.runners.get("clip")
    return runner is not None and runner.state is SourceState.ENDED


def starts(client: redis.Redis, prefix: str) -> list[SessionStart]:
    return [m for m in lifecycle(client, prefix) if isinstance(m, SessionStart) and m.source == "clip"]


@pytest.fixture
def clip(tmp_path: Path, demo_clip: Path) -> Path:
    """A copy of the demo clip this test may touch."""
    return Path(shutil.copy(demo_clip, tmp_path / "clip.mp4"))


@pytest.fixture
def config(make_config: Callable[..., Config], clip: Path) -> Callable[..., Config]:
    def build(exit_at_end: bool = False) -> Config:
        return make_config(sources=[{"id": "clip", "url": str(clip), "every_nth": EVERY_NTH}], ingest={"exit_at_end": exit_at_end})

    return build


def test_a_file_played_to_its_end_is_not_played_again_by_a_restarted_ingest(
    config: Callable[..., Config], rclient: redis.Redis, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    with running(config()) as first:
        [end] = wait_for(lambda: ends(rclient, prefix, "clip"), 120, "the clip's session never ended")
        wait_for(lambda: ended(first), 30, "the first ingest never reported the clip ended")
    assert end.reason == "eof" and end.faces > 0, end
    published = len(faces(rclient, prefix, "clip"))

    caplog.set_level(logging.INFO, logger="emostream.ingest.session_keeper")
    with running(config()) as second:
        wait_for(lambda: ended(second), 120, "the restarted ingest never reported the clip ended")
    assert len(starts(rclient, prefix)) == 1, f"the restart played the clip again: {starts(rclient, prefix)}"
    assert len(ends(rclient, prefix, "clip")) == 1 and len(faces(rclient, prefix, "clip")) == published, "a second session's messages"
    assert "not played again" in caplog.text and end.session in caplog.text, "the restart says why it plays nothing"


def test_a_file_changed_after_its_end_is_played_again(config: Callable[..., Config], rclient: redis.Redis, prefix: str, clip: Path) -> None:
    with running(config()):
        wait_for(lambda: ends(rclient, prefix, "clip"), 120, "the clip's session never ended")
    st = clip.stat()
    os.utime(clip, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # touched: a new version of the file
    with running(config()):
        first, second = wait_for(lambda: ends(rclient, prefix, "clip")[1:] and ends(rclient, prefix, "clip"), 120, "the changed clip was not played")
    assert second.reason == "eof" and second.session != first.session, second
    assert second.frames_analysed == first.frames_analysed and second.faces == first.faces, "played anew, from its start"


def test_with_exit_at_end_a_new_run_plays_its_files_again(config: Callable[..., Config], rclient: redis.Redis, prefix: str) -> None:
    """``exit_at_end``: a run over files, started again to play them again (docs/decisions.md, issue 25)."""
    for _ in range(2):
        with running(config(exit_at_end=True)) as worker:
            wait_for(lambda: worker.stop.is_set(), 120, "the run did not exit at the end of its file")
    assert [e.reason for e in ends(rclient, prefix, "clip")] == ["eof", "eof"], "each run plays the file once"


def test_with_exit_at_end_a_child_started_again_does_not_replay_what_it_ended_in_this_role(
    config: Callable[..., Config], rclient: redis.Redis, prefix: str
) -> None:
    """A role's child that died after some of its files ended, started again (``--again-since`` the role's start)."""
    role_started = time.time()
    with running(config(exit_at_end=True)) as worker:
        wait_for(lambda: worker.stop.is_set(), 120, "the run did not exit at the end of its file")
    with running(config(exit_at_end=True), ended_since=role_started) as again:
        wait_for(lambda: again.stop.is_set(), 120, "the restarted child did not exit with its file ended")
    assert len(starts(rclient, prefix)) == 1, "the restarted child played again a file that ended in this role's run"
    # A file that ended before this role started (yesterday's run) is this run's to play, restarted child or not.
    with running(config(exit_at_end=True), ended_since=time.time()) as later:
        wait_for(lambda: later.stop.is_set(), 120, "the run did not exit at the end of its file")
    assert [e.reason for e in ends(rclient, prefix, "clip")] == ["eof", "eof"]
