"""Fakes for the parts of a SourceRunner: a scripted source, a clock that jumps, a recording publisher.

Nothing here touches Redis, a decoder or the wall clock: a runner built from
these runs its whole state machine (sessions, reconnects, backpressure) in
milliseconds and exactly the same way every time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry

from emostream.config import Config, SourceConfig, parse_config
from emostream.detector import Detection, Detector
from emostream.infra.metrics import IngestMetrics
from emostream.infra.modelcard import load_card
from emostream.ingest.errors import SourceError
from emostream.ingest.frame import Frame
from emostream.ingest.policy import QueueState
from emostream.ingest.runner import SourceRunner
from emostream.ingest.runner_parts import Feed, RunnerParts, Source
from emostream.streams.facejob import FaceJob
from emostream.streams.lifecycle import SessionEnd, SessionStart


class FakeClock:
    """Time moves only when someone waits (or the test says so)."""

    def __init__(self, start: float = 1_000.0, epoch: float = 1_800_000_000.0) -> None:
        self.now, self.epoch = start, epoch - start

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.epoch + self.now

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        if not stop.is_set():
            self.now += max(0.0, seconds)
        return stop.is_set()


@dataclass
class FakePublisher:
    clock: FakeClock
    starts: list[SessionStart] = field(default_factory=list)
    ends: list[SessionEnd] = field(default_factory=list)
    frames: list[tuple[str, int, list[FaceJob]]] = field(default_factory=list)  # (session, frame index, jobs)
    stored: dict[str, Any] | None = None  # what checkpoint() answers

    def register(self, source: str) -> None:
        pass

    def session_started(self, message: SessionStart) -> None:
        self.starts.append(message)

    def session_ended(self, message: SessionEnd, checkpointed: bool, mark: str | None = None) -> None:
        self.ends.append(message)

    def frame(self, source: str, session: str, frame_index: int, jobs: list[FaceJob], state: str) -> None:
        self.frames.append((session, frame_index, jobs))

    def checkpoint(self, source: str) -> dict[str, Any] | None:
        return self.stored

    def checkpoint_key(self, source: str) -> str:
        return f"test:ingest:checkpoint:{source}"

    def side(self, op: Callable[[], object]) -> None:
        op()

    def sessions_of_frames(self) -> list[str]:
        return [session for session, _, _ in self.frames]


class FakeProbe:
    """The classifiers' queue as a function of (fake) time."""

    def __init__(self, clock: FakeClock, queue: Callable[[float], QueueState] = lambda _t: QueueState()) -> None:
        self.clock, self.queue = clock, queue

    def state(self) -> QueueState:
        return self.queue(self.clock.monotonic())

    def queued(self, faces: int) -> None:
        pass


class FakeDetector(Detector):
    """One 60 px face per frame, in the middle; wants BGR pixels."""

    name = "fake"

    def detect_native(self, image: np.ndarray) -> list[Detection]:
        return [Detection(50, 30, 60, 60, 0.9)]


class DecodedPicture:
    """Stands for PyAV's VideoFrame: pixels exist only once someone converts it (and that is recorded)."""

    def __init__(self, conversions: list[str], height: int = 120, width: int = 160) -> None:
        self.conversions, self.height, self.width = conversions, height, width

    def to_ndarray(self, format: str) -> np.ndarray:  # noqa: A002 - PyAV's name
        self.conversions.append(format)
        return np.full((self.height, self.width, 3), 128, np.uint8)


class FakeRgbDetector(FakeDetector):
    colour = "rgb"


class FakeSource:
    """``frames`` frames, one every ``1/fps`` s of fake time, then the end (file) or a disconnect (live)."""

    def __init__(self, clock: FakeClock, frames: int, fps: float, live: bool) -> None:
        self.clock, self.count, self.fps, self.live = clock, frames, fps, live
        self.url, self.decode_errors, self.decoded = "fake://camera", 0, 0
        self.closed = False
        self.conversions: list[str] = []  # pixel formats asked of the decoded pictures, in order

    @property
    def name(self) -> str:
        return self.url

    def frames(self) -> Iterator[Frame]:
        while self.decoded < self.count:
            self.clock.now += 1.0 / self.fps
            yield Frame(DecodedPicture(self.conversions), self.decoded / self.fps, self.decoded, self.clock.time(), 0.001)
            self.decoded += 1
        if self.live:
            raise SourceError("disconnected", self.url, "the stream ended")

    def close(self) -> None:
        self.closed = True


class FakeFeed:
    """A live feed taken synchronously: each take is the next frame (no decode thread)."""

    def __init__(self, source: FakeSource) -> None:
        self._frames, self.overwritten, self.source = source.frames(), 0, source

    @property
    def decode_errors(self) -> int:
        return self.source.decode_errors

    def take(self, timeout: float) -> Frame | None:
        return next(self._frames)  # raises the source's SourceError at its end

    def stop(self, join_s: float = 0.0) -> bool:
        return True


class Script:
    """What each connection attempt does: an int opens a source with that many frames; an error fails to open.

    Once the script is used up the runner is stopped, as a shutdown would.
    """

    def __init__(self, clock: FakeClock, steps: list[int | SourceError], fps: float, live: bool) -> None:
        self.clock, self.steps, self.fps, self.live = clock, list(steps), fps, live
        self.runner: SourceRunner | None = None
        self.opened: list[float] = []  # fake monotonic time of each attempt
        self.sources: list[FakeSource] = []

    def open(self, src: SourceConfig) -> Source:
        self.opened.append(self.clock.monotonic())
        if not self.steps:
            assert self.runner is not None
            self.runner.stop.set()
            raise SourceError("unreachable", src.url, "the script is over")
        step = self.steps.pop(0)
        if isinstance(step, SourceError):
            raise step
        self.sources.append(FakeSource(self.clock, step, self.fps, self.live))
        return self.sources[-1]


def feed_of(source: Source, realtime: bool) -> Feed:
    assert isinstance(source, FakeSource)
    return FakeFeed(source)


@dataclass
class Rig:
    runner: SourceRunner
    clock: FakeClock
    publisher: FakePublisher
    script: Script
    registry: CollectorRegistry

    def metric(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, {"source": self.runner.src.id, **labels}) or 0.0


def build(
    steps: list[int | SourceError],
    *,
    live: bool = True,
    fps: float = 10.0,
    ingest: dict[str, Any] | None = None,
    queue: Callable[[float], QueueState] = lambda _t: QueueState(),
    source: dict[str, Any] | None = None,
    detector: Callable[[], Detector] = FakeDetector,
) -> Rig:
    config: Config = parse_config(
        {
            "sources": [{"id": "cam", "url": "rtsp://cam.example/stream" if live else "/clips/fake.mp4", "live": live, "fps": fps, **(source or {})}],
            "ingest": {"reconnect_initial_s": 0.5, "reconnect_max_s": 4.0, "session_timeout_s": 30.0, **(ingest or {})},
            "detector": {"min_face_px": 20, "check": False},  # the fake's face is a gray square: no second look would pass it
        },
        "test",
    )
    clock = FakeClock()
    publisher = FakePublisher(clock)
    script = Script(clock, steps, fps, live)
    registry = CollectorRegistry()
    parts = RunnerParts(
        config=config,
        card=load_card(None),
        publisher=publisher,
        probe=FakeProbe(clock, queue),
        metrics=IngestMetrics(registry),
        make_detector=detector,
        open_source=script.open,
        live_feed=feed_of,
        clock=clock,
        rand=lambda: 0.5,  # no jitter: delays are exactly initial, 2x, 4x ...
    )
    runner = SourceRunner(config.sources[0], parts)
    script.runner = runner
    return Rig(runner, clock, publisher, script, registry)
