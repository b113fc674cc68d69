"""Publish behind: frames written by one thread, in each source's order, ends after faces, errors raised to their source."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import pytest
import redis

from emostream.ingest.publisher import FrameWrite, IngestPublisher
from emostream.ingest.writebehind import WriteBehind
from emostream.streams.facejob import FaceJob
from emostream.streams.keys import Keys
from emostream.streams.lifecycle import SessionEnd, decode_lifecycle
from emostream.streams.reconnect import Reconnector
from tests.helpers import face_job, wait_for


def entry_id(raw: bytes) -> tuple[int, int]:
    ms, seq = raw.decode().split("-")
    return int(ms), int(seq)


def state(session: str, frame_index: int) -> str:
    return json.dumps({"v": 1, "session": session, "frame_index": frame_index})


def test_frames_of_two_sources_land_in_order_with_their_checkpoints_and_the_end_after_the_faces(rclient: redis.Redis, prefix: str) -> None:
    keys = Keys(prefix)
    publisher = IngestPublisher(rclient, keys, Reconnector("test", lambda: False), faces_maxlen=10_000)
    writer = WriteBehind(publisher, depth=2)
    # Given two sources handing over 30 frames each, two faces a frame, from their own threads
    def source(name: str) -> None:
        for i in range(30):
            jobs = [face_job(source=name, session=f"{name}-s1", seq=i, track=t) for t in (1, 2)]
            writer.frame(name, f"{name}-s1", i, jobs, state(f"{name}-s1", i))
        writer.session_ended(SessionEnd(name, f"{name}-s1", 1.0, 2.0, "eof", 30, 0, 0, 60, 0), checkpointed=True)

    threads = [threading.Thread(target=source, args=(name,)) for name in ("cam1", "cam2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert writer.close(5.0)
    # then each source's faces are all there, in its own order, and each end message came after its last face
    entries = [(entry_id(eid), FaceJob.decode(fields)) for eid, fields in rclient.xrange(keys.faces)]
    ends = [(entry_id(eid), decode_lifecycle(fields)) for eid, fields in rclient.xrange(keys.lifecycle)]
    for name in ("cam1", "cam2"):
        mine = [(eid, job) for eid, job in entries if job.source == name]
        assert [job.seq for _, job in mine] == [i for i in range(30) for _ in (1, 2)], f"{name}: every face once, in order"
        [end_id] = [eid for eid, message in ends if message.source == name]
        # (ids of two streams share only their millisecond: the sequence part counts within one stream)
        assert end_id[0] >= mine[-1][0][0], f"{name}: the end message overtook the session's last faces"
        assert publisher.checkpoint(name) is None, "the end message deletes the checkpoint"


def test_a_checkpoint_read_waits_for_the_frames_handed_over_before_it(rclient: redis.Redis, prefix: str) -> None:
    publisher = IngestPublisher(rclient, Keys(prefix), Reconnector("test", lambda: False), faces_maxlen=10_000)
    writer = WriteBehind(publisher, depth=4)
    for i in range(4):
        writer.frame("cam1", "cam1-s1", i, [face_job(seq=i)], state("cam1-s1", i))
    assert writer.checkpoint("cam1") == json.loads(state("cam1-s1", 3)), "the checkpoint of the last frame handed over"
    assert writer.close(5.0)


class Gate:
    """A publisher whose frame writes wait at a gate: shows what the writer holds back, and can fail."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.open, self.fail = threading.Event(), fail
        self.written: list[FrameWrite] = []

    def frames(self, writes: list[FrameWrite]) -> None:
        self.open.wait(10)
        if self.fail is not None:
            raise self.fail
        self.written.extend(writes)

    def __getattr__(self, name: str) -> Callable[..., Any]:  # the lifecycle writes are not what these tests look at
        return lambda *args, **kwargs: None


def test_a_source_waits_once_depth_frames_are_queued_and_goes_on_when_they_are_written() -> None:
    gate = Gate()
    writer = WriteBehind(gate, depth=2)  # type: ignore[arg-type]
    handed: list[int] = []

    def source() -> None:
        for i in range(6):
            writer.frame("cam1", "s", i, [], "{}")
            handed.append(i)

    thread = threading.Thread(target=source)
    thread.start()
    wait_for(lambda: len(handed) >= 2, 5, "the first two frames were not taken")
    thread.join(0.2)
    assert handed == [0, 1], f"with the writer held, a source hands over only depth frames: {handed}"
    gate.open.set()
    thread.join(5)
    assert writer.close(5.0)
    assert [w.frame_index for w in gate.written] == list(range(6)), "every frame written once, in order"


def test_a_failed_write_is_raised_to_its_source_at_its_next_call() -> None:
    gate = Gate(fail=redis.ResponseError("OOM command not allowed"))
    gate.open.set()
    writer = WriteBehind(gate, depth=1)  # type: ignore[arg-type]
    writer.frame("cam1", "s", 0, [], "{}")
    with pytest.raises(redis.ResponseError, match="OOM"):
        writer.flush("cam1")
    writer.flush("cam2")  # another source's calls are not disturbed
    assert writer.close(5.0)
