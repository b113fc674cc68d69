"""Against a real RTSP camera on loopback (GStreamer, tests/support): fast open, reconnects, stalls, auth.

The camera serves the demo clip, so faces are detected and face jobs flow
through Redis exactly as in production.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from emostream.ingest.sources import VideoSource
from emostream.ingest.worker import IngestWorker
from emostream.streams.facejob import FaceJob
from emostream.streams.lifecycle import SessionEnd, SessionStart
from tests.helpers import wait_for
from tests.support.ingest import errors, faces, lifecycle, metric
from tests.support.rtsp import RtspServer, free_port

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("rtsp"), pytest.mark.timeout(180)]


@pytest.fixture
def camera(demo_clip: Path) -> Iterator[RtspServer]:
    """The demo clip as a live 15 fps camera; killed and restarted by the tests, stopped at the end."""
    cam = RtspServer(free_port(), "/cam", file=demo_clip, fps=15, width=640, height=360)
    cam.start()
    yield cam
    if cam.proc is not None:
        with_suppressed_signal(cam, signal.SIGCONT)
    cam.stop()


def with_suppressed_signal(cam: RtspServer, sig: int) -> None:
    if cam.proc is not None and cam.proc.poll() is None:
        os.kill(cam.proc.pid, sig)


def up(worker: IngestWorker, source: str) -> bool:
    return metric(worker, "emostream_ingest_source_up", source=source) == 1.0


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_the_first_frame_arrives_well_under_a_second(camera: RtspServer, transport: str) -> None:
    took = []
    for _ in range(3):
        started = time.monotonic()
        source = VideoSource(camera.url, live=True, rtsp_transport=transport)
        try:
            frame = next(iter(source.frames()))
        finally:
            source.close()
        took.append(time.monotonic() - started)
        assert frame.image.shape == (360, 640, 3)
    print(f"time to first frame over {transport}: {', '.join(f'{t:.3f}' for t in took)} s")
    assert min(took) < 0.6, f"the first RTSP frame took {min(took):.2f} s at best over {transport} (loopback; expected ~0.15 s)"


def test_ingest_recovers_by_itself_when_the_camera_is_killed_and_restarted(
    camera: RtspServer, make_config: Any, run_worker: Callable[..., IngestWorker], rclient: redis.Redis, prefix: str
) -> None:
    config = make_config(sources=[{"id": "cam", "url": camera.url, "fps": 5}], ingest={"session_timeout_s": 30, "reconnect_max_s": 2})
    worker = run_worker(config)
    wait_for(lambda: len(faces(rclient, prefix, "cam")) >= 5, 90, "no faces from the RTSP camera")

    # Paced: a 15 fps camera analysed at 5 fps; the rest skipped, and what is published is fresh.
    def frames(outcome: str) -> float:
        return metric(worker, "emostream_ingest_frames_total", source="cam", outcome=outcome)

    analysed, skipped = frames("analysed"), frames("skipped")
    time.sleep(2.0)
    analysed, skipped = frames("analysed") - analysed, frames("skipped") - skipped
    assert 6 <= analysed <= 11, f"about 5 fps x 2 s = 10 frames should be analysed, got {analysed}"
    assert skipped >= analysed, f"the camera's other frames should be skipped and counted: {skipped} skipped, {analysed} analysed"
    entries = rclient.xrange(f"{prefix}:faces")
    lags = [int(entry_id.split(b"-")[0]) / 1000 - FaceJob.decode(fields).captured_ts for entry_id, fields in entries]
    assert max(lags) < 0.5, f"a face was published {max(lags):.2f} s after its frame was decoded: latency is building up"

    camera.kill()
    wait_for(lambda: not up(worker, "cam"), 10, "source_up should drop to 0 when the camera dies")
    assert errors(worker, "cam", "disconnected") == 1
    time.sleep(2.0)
    assert worker.runners["cam"].thread.is_alive(), "the source thread must survive the camera's death"
    before = len(faces(rclient, prefix, "cam"))

    camera.start()
    back = time.monotonic()
    wait_for(lambda: len(faces(rclient, prefix, "cam")) > before, 10, "no faces after the camera came back")
    recovered = time.monotonic() - back
    print(f"faces flowed again {recovered:.2f} s after the camera was back")
    assert recovered < 5.0, f"ingest took {recovered:.1f} s to recover (limit 5 s)"
    assert up(worker, "cam") and metric(worker, "emostream_ingest_reconnects_total", source="cam") >= 1

    messages = lifecycle(rclient, prefix)
    starts = [m for m in messages if isinstance(m, SessionStart)]
    ended = [m for m in messages if isinstance(m, SessionEnd)]
    assert len(starts) == 1 and not ended, f"a reconnect within the timeout continues the session: {messages}"
    jobs = faces(rclient, prefix, "cam")
    assert {j.session for j in jobs} == {starts[0].session}, "faces after the reconnect belong to the same session"
    seqs = [j.seq for j in jobs]
    assert seqs == sorted(seqs), "frame sequence numbers keep increasing across the reconnect"


def test_a_camera_down_longer_than_the_session_timeout_starts_a_new_session(
    camera: RtspServer, make_config: Any, run_worker: Callable[..., IngestWorker], rclient: redis.Redis, prefix: str
) -> None:
    config = make_config(sources=[{"id": "cam", "url": camera.url, "fps": 5}], ingest={"session_timeout_s": 1.5, "reconnect_max_s": 1})
    run_worker(config)
    wait_for(lambda: faces(rclient, prefix, "cam"), 90, "no faces from the RTSP camera")
    camera.kill()
    wait_for(lambda: [m for m in lifecycle(rclient, prefix) if isinstance(m, SessionEnd)], 30, "the session should end after the timeout")
    camera.start()
    wait_for(lambda: len([m for m in lifecycle(rclient, prefix) if isinstance(m, SessionStart)]) == 2, 30, "a new session should start")
    first, end, second = lifecycle(rclient, prefix)[:3]
    assert isinstance(end, SessionEnd) and end.reason == "timeout" and end.session == first.session, end
    assert second.session != first.session


def test_a_stalled_camera_is_noticed_within_seconds_and_recovered(
    camera: RtspServer, make_config: Any, run_worker: Callable[..., IngestWorker], rclient: redis.Redis, prefix: str
) -> None:
    """SIGSTOP: the server keeps its sockets open and says nothing; without timeouts FFmpeg would wait forever."""
    config = make_config(sources=[{"id": "cam", "url": camera.url, "fps": 5}], ingest={"read_timeout_s": 1.5, "reconnect_max_s": 1})
    worker = run_worker(config)
    wait_for(lambda: faces(rclient, prefix, "cam"), 90, "no faces from the RTSP camera")
    with_suppressed_signal(camera, signal.SIGSTOP)
    stalled_at = time.monotonic()
    wait_for(lambda: errors(worker, "cam", "stalled") >= 1, 10, "the stall was never noticed")
    noticed = time.monotonic() - stalled_at
    assert noticed < 2.5 and not up(worker, "cam"), f"a stall should be noticed within ~read_timeout_s (1.5 s), took {noticed:.1f} s"
    time.sleep(2.0)
    before = len(faces(rclient, prefix, "cam"))
    with_suppressed_signal(camera, signal.SIGCONT)
    resumed = time.monotonic()
    wait_for(lambda: len(faces(rclient, prefix, "cam")) > before, 10, "no faces after the camera resumed")
    print(f"stall noticed after {noticed:.2f} s; faces again {time.monotonic() - resumed:.2f} s after SIGCONT")


def test_wrong_path_and_wrong_credentials_are_counted_while_the_good_camera_streams(
    demo_clip: Path, make_config: Any, run_worker: Callable[..., IngestWorker], rclient: redis.Redis, prefix: str
) -> None:
    with RtspServer(free_port(), "/cam", file=demo_clip, fps=15, width=640, height=360, user="viewer", password="Sesame42") as cam:
        sources = [
            {"id": "good", "url": cam.url, "fps": 5},
            {"id": "wrongpath", "url": cam.url.replace("/cam", "/nope")},
            {"id": "wrongpass", "url": cam.url_with("viewer", "WrongPass9")},
            {"id": "nopass", "url": cam.bare_url},
        ]
        worker = run_worker(make_config(sources=sources, ingest={"reconnect_max_s": 1}))
        expected = {"wrongpath": "not_found", "wrongpass": "auth", "nopass": "auth"}
        for sid, kind in expected.items():
            wait_for(lambda sid=sid, kind=kind: errors(worker, sid, kind) >= 1, 60, f"{sid} should fail as {kind}")  # type: ignore[misc]
        before = len(faces(rclient, prefix, "good"))
        time.sleep(2.0)
        assert len(faces(rclient, prefix, "good")) > before, "the good camera must keep producing next to the failing ones"
        assert all(worker.runners[sid].thread.is_alive() for sid in expected), "failing live sources keep retrying"
