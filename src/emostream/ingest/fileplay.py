"""A file's frames as steps for its source thread: which to analyse, and (worked ahead) their faces.

The decisions that need no session state are made here, in frame order: a
frame analysed before a restart is only counted (``resume_after``), the pacer
keeps every n-th and, played as a camera, holds each until its time. A frame to
analyse is handed to ``prepare`` (the detector) here too, so that with
``ingest.decode_ahead`` all of it runs on the decode thread
(:class:`~emostream.ingest.ahead.Ahead`) while the source's thread tracks and
publishes the frame before. Without it, :class:`Inline` runs the same steps on
the source's thread, one at a time, as ingest always did.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from emostream.ingest.analyse import Detected
from emostream.ingest.frame import Frame
from emostream.ingest.pacing import FilePacer
from emostream.ingest.runner_parts import Source
from emostream.ingest.stages import StageClock

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


@dataclass(frozen=True)
class Step:
    frame: Frame
    decode_errors: int  # the source's undecodable packets up to this frame
    analyse: bool  # False: only counted (analysed before a restart, or skipped by every_nth)
    detected: Detected | None = None  # the frame's faces when worked ahead; None: detect when analysed


def file_steps(
    source: Source,
    pacer: FilePacer,
    resume_after: int,
    captured: Callable[[], float] | None,
    prepare: Callable[[Frame], Detected] | None,
    stages: StageClock,
) -> Generator[Step, None, None]:
    """``captured``: the clock that stamps a frame played as a camera when it is due (None: keep the decode time)."""
    try:
        for frame in source.frames():
            stages.lap("decode")  # reading and decoding since the previous frame was handed on (skipped frames too)
            if frame.index <= resume_after:  # analysed before a restart: only keep the count
                pacer.skip()
                yield Step(frame, source.decode_errors, False)
            elif not pacer.admit(frame.pts):  # decided before any pixel is converted
                yield Step(frame, source.decode_errors, False)
            else:
                if captured is not None:  # captured when due, not when decoded ahead of time
                    frame = dataclasses.replace(frame, captured_ts=captured())
                yield Step(frame, source.decode_errors, True, prepare(frame) if prepare is not None else None)
            stages.mark()  # the wait while the step was taken is no stage of this thread's
    finally:
        source.close()


class Feed(Protocol[T_co]):
    """:class:`Inline`, or :class:`~emostream.ingest.ahead.Ahead` on a decode thread."""

    def __iter__(self) -> Iterator[T_co]: ...

    def close(self, join_s: float = 5.0) -> bool: ...


class Inline(Generic[T]):
    """The steps on the calling thread (``ingest.decode_ahead: 0``)."""

    def __init__(self, items: Generator[T, None, None]) -> None:
        self._items = items

    def __iter__(self) -> Iterator[T]:
        return self._items

    def close(self, join_s: float = 5.0) -> bool:
        self._items.close()
        return True
