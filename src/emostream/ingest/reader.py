"""Decode a live source on its own thread and keep only the newest frame.

A camera does not wait for us: if analysis is slower than the camera, frames
must be dropped somewhere, and dropping all but the newest keeps latency at
one frame instead of letting a queue grow. The thread owns the connection
(open elsewhere, iterated and closed here), because closing an FFmpeg
container while another thread reads from it can crash the process.
"""

from __future__ import annotations

import dataclasses
import threading
import time

from emostream.ingest.errors import SourceError
from emostream.ingest.frame import Frame
from emostream.ingest.pacing import FilePacer
from emostream.ingest.sources import VideoSource


class LatestFrameReader:
    """The analysis loop ``take``s frames at its own pace.

    A frame replaced before it was taken is counted in ``overwritten``
    (skipped by the caller). A source that delivers nothing for ``timeout`` seconds raises
    a ``stalled`` SourceError from :meth:`take`, and one that ends or fails
    raises its own SourceError: both are disconnects to the caller.
    """

    def __init__(self, source: VideoSource, realtime: bool = False) -> None:
        self.source = source
        # A file read as a camera (``live: true``) would otherwise be decoded as fast as the
        # CPU goes: with ``realtime`` each frame is handed over at its presentation time.
        self.realtime = realtime
        self.overwritten = 0
        self._frame: Frame | None = None
        self._error: SourceError | None = None
        self._ended = False
        self._stopping = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._loop, name=f"decode:{source.name}", daemon=True)
        self._thread.start()

    @property
    def decoded(self) -> int:
        return self.source.decoded

    @property
    def decode_errors(self) -> int:
        return self.source.decode_errors

    def _loop(self) -> None:
        pacer = FilePacer(realtime=self.realtime, sleep=self._sleep)
        try:
            for frame in self.source.frames():
                if self.realtime:
                    pacer.admit(frame.pts)
                    frame = dataclasses.replace(frame, captured_ts=time.time())
                with self._cond:
                    if self._frame is not None:
                        self.overwritten += 1
                    self._frame = frame
                    self._cond.notify_all()
                    if self._stopping:
                        break
        except SourceError as exc:
            self._error = exc
        except Exception as exc:  # anything else is still a disconnect, never a dead worker
            self._error = SourceError("error", self.source.url, f"{type(exc).__name__}: {exc}")
        finally:
            self.source.close()
            with self._cond:
                self._ended = True
                self._cond.notify_all()

    def _sleep(self, seconds: float) -> None:
        with self._cond:  # stop() notifies, so a paced wait ends at once
            self._cond.wait_for(lambda: self._stopping, seconds)

    def take(self, timeout: float) -> Frame | None:
        """The newest frame not taken yet, waiting up to ``timeout`` s; None only once stopped."""
        with self._cond:
            self._cond.wait_for(lambda: self._frame is not None or self._ended, timeout)
            if self._frame is not None:
                frame, self._frame = self._frame, None
                return frame
            if self._ended:
                if self._error is not None:
                    raise self._error
                if self._stopping:
                    return None
                raise SourceError("disconnected", self.source.url, "the stream ended")
        raise SourceError("stalled", self.source.url, f"no frame for {timeout:g} s")

    def stop(self, join_s: float = 0.0) -> bool:
        """Ask the decode thread to finish; it exits at its next frame or read timeout.

        Returns whether it has exited within ``join_s`` seconds.
        """
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(join_s)
        return not self._thread.is_alive()
