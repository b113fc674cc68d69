"""What a :class:`~emostream.ingest.runner.SourceRunner` is built from, each part replaceable by a fake.

The runner holds no Redis client and no worker: it publishes through a
:class:`Publisher`, asks a :class:`QueueProbe` how far behind the classifiers
are, builds its detector with a factory, opens sources with an opener and
reads the time (and waits) through a :class:`Clock`. The ingest worker wires
the real ones; unit tests pass a scripted source, a fake clock that jumps
instead of sleeping and a publisher that records, and run the session rules
in milliseconds without Redis, a camera or a wall clock.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from emostream.config import Config, SourceConfig
from emostream.detector import Detector
from emostream.infra.metrics import IngestMetrics
from emostream.infra.modelcard import ModelCard
from emostream.ingest.detectpool import DetectPool
from emostream.ingest.frame import Frame
from emostream.ingest.policy import QueueState
from emostream.ingest.stages import OFF, StageClock
from emostream.streams.facejob import FaceJob
from emostream.streams.lifecycle import SessionEnd, SessionStart


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def time(self) -> float: ...

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        """Sleep ``seconds`` or until ``stop`` is set; returns whether it is set."""
        ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        return stop.wait(max(0.0, seconds))


class Publisher(Protocol):
    """What ingest writes (see :class:`emostream.ingest.publisher.IngestPublisher`)."""

    def register(self, source: str) -> None: ...

    def session_started(self, message: SessionStart) -> None: ...

    def session_ended(self, message: SessionEnd, checkpointed: bool, mark: str | None = None) -> None: ...

    def frame(self, source: str, session: str, frame_index: int, jobs: list[FaceJob], state: str) -> None: ...

    def checkpoint(self, source: str) -> dict[str, Any] | None: ...

    def checkpoint_key(self, source: str) -> str: ...

    def side(self, op: Callable[[], object]) -> None: ...


class QueueProbe(Protocol):
    def state(self) -> QueueState: ...

    def queued(self, faces: int) -> None:
        """Faces this worker just queued (counted as waiting until the next look at Redis)."""
        ...


class Source(Protocol):
    """One connection to a source (see :class:`emostream.ingest.sources.VideoSource`)."""

    url: str
    decode_errors: int
    decoded: int

    @property
    def name(self) -> str: ...

    def frames(self) -> Iterator[Frame]: ...

    def close(self) -> None: ...


class Feed(Protocol):
    """A live source's newest frame, taken at the analysis loop's pace (see ``reader.LatestFrameReader``)."""

    overwritten: int

    @property
    def decode_errors(self) -> int: ...

    def take(self, timeout: float) -> Frame | None: ...

    def stop(self, join_s: float = 0.0) -> bool: ...


class Preview(Protocol):
    def due(self) -> bool: ...

    def publish(self, frame: np.ndarray, session: str, seq: int, boxes: list[tuple[int, int, int, int]], tracks: list[int]) -> bool: ...


def open_video(src: SourceConfig, config: Config) -> Source:
    """The real opener: a PyAV (or OpenCV) connection, opened; raises SourceError."""
    from emostream.ingest.sources import VideoSource

    ing = config.ingest
    source = VideoSource(
        src.resolved_url(),
        live=src.is_live,
        rtsp_transport=src.rtsp_transport,
        open_timeout_s=ing.open_timeout_s,
        read_timeout_s=ing.read_timeout_s,
        max_pixels=ing.max_frame_pixels,
    )
    source.open()
    return source


def latest_frames(source: Source, realtime: bool) -> Feed:
    """The real live feed: a decode thread that keeps only the newest frame."""
    from emostream.ingest.reader import LatestFrameReader
    from emostream.ingest.sources import VideoSource

    assert isinstance(source, VideoSource)
    return LatestFrameReader(source, realtime=realtime)


@dataclass(frozen=True)
class RunnerParts:
    """Shared by every source of one ingest worker."""

    config: Config
    card: ModelCard  # crop size and colour
    publisher: Publisher
    probe: QueueProbe
    metrics: IngestMetrics
    make_detector: Callable[[], Detector]
    open_source: Callable[[SourceConfig], Source]
    live_feed: Callable[[Source, bool], Feed] = latest_frames
    clock: Clock = field(default_factory=SystemClock)
    preview: Callable[[str], Preview | None] = lambda _source: None
    rand: Callable[[], float] = random.random  # reconnect jitter
    stages: StageClock = OFF  # per-stage timing, on only in the benchmark (see ``ingest.stages``)
    # A child its role started again after it died: files it played to their end since this time (the role's start) are
    # not played again, even with ingest.exit_at_end (None: a first start, where exit_at_end plays every file)
    ended_since: float | None = None
    decode_ahead: int = 0  # frames a file's decode thread works ahead (``ingest.decode_ahead``); 0: none, all on the source's thread
    detect_pool: Callable[[], DetectPool | None] = lambda: None  # the worker's detection threads for files (``ingest.detect_threads``)
