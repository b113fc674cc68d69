"""Where an analysed frame's time goes: a per-stage timer that costs nothing unless a benchmark turns it on.

Ingest code calls :meth:`StageClock.lap` at the end of each stage (decode,
colour conversion, detection, ...) and :meth:`StageClock.mark` before a stage
whose preceding gap should not be charged to anyone. The default clock does
nothing (about a dozen empty calls, ~1 µs a frame); the benchmark
passes a :class:`StageProfile`, which adds wall and thread CPU time to the
named stage. Time between a mark and the next lap that no lap claims is "the
rest" (Python glue, metrics, bookkeeping): the span of each thread minus what
its stages took. Tallies are per thread (the publisher is shared by the
source threads), so no lock is taken per lap.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field


class StageClock:
    """The production clock: every call is a no-op."""

    def mark(self) -> None:
        """Start timing from now; the time since the previous lap is charged to no stage."""

    def lap(self, stage: str) -> None:
        """Charge the time since the previous mark or lap to ``stage``."""

    def frame_done(self) -> None:
        """One analysed frame is finished (marks, too)."""


OFF = StageClock()


@dataclass
class Tally:
    """One thread's stages: wall and CPU nanoseconds each, the thread's span and its analysed frames."""

    wall: dict[str, int] = field(default_factory=dict)
    cpu: dict[str, int] = field(default_factory=dict)
    frames: int = 0
    first: tuple[int, int] | None = None  # (wall, cpu) at the first call of this thread
    last: tuple[int, int] = (0, 0)  # at the latest call

    @property
    def span(self) -> tuple[int, int]:
        """(wall, cpu) nanoseconds from the thread's first call to its latest."""
        first = self.first or self.last
        return self.last[0] - first[0], self.last[1] - first[1]


class StageProfile(StageClock):
    """Accumulates per-stage wall and thread CPU time, one :class:`Tally` per calling thread."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._tallies: list[Tally] = []
        self._lock = threading.Lock()  # only for a thread's first call
        self._process: list[int] = []  # process CPU ns at the first call of any thread, and at the latest frame done

    def _tally(self) -> Tally:
        tally: Tally | None = getattr(self._local, "tally", None)
        if tally is None:
            tally = self._local.tally = Tally()
            with self._lock:
                self._tallies.append(tally)
                if not self._process:
                    self._process = [time.process_time_ns()] * 2
        return tally

    def _now(self, tally: Tally) -> tuple[int, int]:
        now = (time.perf_counter_ns(), time.thread_time_ns())
        if tally.first is None:  # a thread's first call charges nothing
            tally.first = tally.last = now
        return now

    def mark(self) -> None:
        tally = self._tally()
        tally.last = self._now(tally)

    def lap(self, stage: str) -> None:
        tally = self._tally()
        now = self._now(tally)
        tally.wall[stage] = tally.wall.get(stage, 0) + now[0] - tally.last[0]
        tally.cpu[stage] = tally.cpu.get(stage, 0) + now[1] - tally.last[1]
        tally.last = now

    def frame_done(self) -> None:
        tally = self._tally()
        tally.frames += 1
        tally.last = self._now(tally)
        self._process[1] = time.process_time_ns()  # one list item, set from any thread: no lock needed

    def process_cpu_ns(self) -> int:
        """CPU of the whole process (every thread: FFmpeg's decoders, the detector's) from the first call to the last frame done."""
        return self._process[1] - self._process[0] if self._process else 0

    def tallies(self) -> list[Tally]:
        """The threads that called, those that analysed frames first; read once the threads are done."""
        with self._lock:
            return sorted(self._tallies, key=lambda t: -t.frames)
