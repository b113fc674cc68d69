"""Fixtures of the ingest tests: damaged copies of the demo clip, the RTSP camera, an in-process worker."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import av
import pytest

from emostream.config import Config
from emostream.ingest.worker import IngestWorker
from tests.support.rtsp import rtsp_available


@pytest.fixture(scope="session")
def bad_files(tmp_path_factory: pytest.TempPathFactory, demo_clip: Path) -> dict[str, Path]:
    """A file that is not video, the demo clip truncated (index at the end, and index first), and damaged inside."""
    folder = tmp_path_factory.mktemp("bad-files")
    data = demo_clip.read_bytes()
    files = {
        "not_video": folder / "notes.mp4",
        "empty": folder / "empty.mp4",
        "truncated": folder / "truncated.mp4",
        "truncated_faststart": folder / "truncated-faststart.mp4",
        "corrupt": folder / "corrupt.mp4",
    }
    files["not_video"].write_text("this is a text file, not a video\n" * 50)
    files["empty"].write_bytes(b"")
    files["truncated"].write_bytes(data[: len(data) // 2])  # the demo clip's index (moov) is at the end: cannot open
    faststart = folder / "faststart.mp4"
    with av.open(str(demo_clip)) as src, av.open(str(faststart), "w", options={"movflags": "faststart"}) as dst:
        stream = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                dst.mux(packet)
    fast = faststart.read_bytes()
    files["truncated_faststart"].write_bytes(fast[: len(fast) // 2])  # index first: opens, ends half-way
    damaged = bytearray(data)
    rng = random.Random(1)
    mdat_end = data.find(b"moov") - 8
    for start in range(20_000, mdat_end - 400, 3_000):  # garbage inside frames, the index intact
        damaged[start : start + 300] = bytes(rng.randrange(256) for _ in range(300))
    files["corrupt"].write_bytes(bytes(damaged))
    return files


@pytest.fixture
def rtsp() -> None:
    """Skip (with the harness's reason) where the GStreamer RTSP server cannot run."""
    ok, reason = rtsp_available()
    if not ok:
        pytest.skip(reason)


@pytest.fixture
def run_worker() -> Iterator[Callable[..., IngestWorker]]:
    """Start IngestWorkers in-process (each on a thread); all are stopped and joined at the end of the test."""
    started: list[tuple[IngestWorker, threading.Thread]] = []

    def start(config: Config, **kwargs: Any) -> IngestWorker:
        worker = IngestWorker(config, **kwargs)
        thread = threading.Thread(target=worker.run, name="test-ingest", daemon=True)
        thread.start()
        started.append((worker, thread))
        return worker

    yield start
    for worker, _ in started:
        worker.stop.set()
    for _, thread in started:
        thread.join(30)
        assert not thread.is_alive(), "the ingest worker did not stop within 30 s"
