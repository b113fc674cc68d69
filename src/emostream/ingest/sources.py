"""Open and decode video sources: files, RTSP/HTTP(S)/HLS streams, webcams, FFmpeg lavfi.

PyAV does the decoding everywhere it can; OpenCV is used only for a webcam
given as an index (``0``), which PyAV cannot open, and as a fallback for a
``/dev/videoN`` that PyAV's v4l2 input refuses. Every failure becomes a
:class:`~emostream.ingest.errors.SourceError` naming the source with its
password masked.

Packets are demuxed and decoded separately: a packet that fails to decode
(a damaged frame, the truncated last packet of a dying RTSP session) is
skipped and counted, while a failure to *read* ends the connection. A live
source whose stream simply ends is a disconnect, never a normal end: PyAV
reports a killed RTSP server that way.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from typing import Any

from emostream.config.sources import guess_live, source_kind
from emostream.infra.redact import redact
from emostream.ingest.errors import SourceError, classify_open_error, missing_file
from emostream.ingest.frame import Frame

log = logging.getLogger(__name__)

# A live stream that yields this many undecodable packets in a row is treated as broken.
MAX_CONSECUTIVE_DECODE_ERRORS = 100
# A file may end this many frames, or this many seconds, short of its declared frame count (the larger) and still be whole.
SHORT_FRAMES = 5
SHORT_SECONDS = 0.5


def short_tolerance(rate: float) -> int:
    """Frames a file may lack against its container's count and still end as ``eof`` (docs/sources.md)."""
    return max(SHORT_FRAMES, int(SHORT_SECONDS * rate))


class VideoSource:
    """One connection to a source: ``open()``, then ``frames()`` until it ends or fails, then ``close()``.

    Not thread-safe: open, iterate and close it on one thread (a container
    closed while another thread reads from it can crash FFmpeg).
    """

    def __init__(
        self,
        url: str,
        *,
        live: bool | None = None,
        rtsp_transport: str = "tcp",
        open_timeout_s: float = 5.0,
        read_timeout_s: float = 3.0,
        max_pixels: int | None = None,
    ) -> None:
        self.url = url
        self.max_pixels = max_pixels  # bigger frames are refused before conversion (memory bound)
        self.kind = source_kind(url)
        self.live = guess_live(url) if live is None else live
        self.rtsp_transport = rtsp_transport
        self.open_timeout_s = open_timeout_s
        self.read_timeout_s = read_timeout_s
        self.decode_errors = 0  # packets skipped because they did not decode
        self.decoded = 0
        self.open_s: float | None = None  # how long open() took
        self._container: Any = None
        self._capture: Any = None

    @property
    def name(self) -> str:
        return redact(self.url)

    @property
    def backstop_s(self) -> float:
        """FFmpeg's own read timeout (see :meth:`av_open_args`)."""
        return 2.0 * self.read_timeout_s

    @property
    def network(self) -> bool:
        return self.kind in ("rtsp", "http", "stream")

    def av_open_args(self) -> tuple[str, dict[str, Any]]:
        """The URL and keyword arguments for ``av.open``.

        RTSP: the SDP already describes the stream, so probing is cut to the
        minimum (first frame in ~0.15 s on loopback instead of ~2 s); the
        socket timeout (µs) makes a stalled server raise instead of hanging.
        ``fflags=nobuffer`` is deliberately absent: it drops the packets read
        while probing, often the first key frame, costing a whole GOP.

        FFmpeg's read timeouts are twice ``read_timeout_s``: when one fires,
        FFmpeg first hands out the truncated packet it holds, which decodes
        to a frame and would restart the stall clock. The reader declares a
        stall after ``read_timeout_s`` without a frame; these timeouts only
        make sure the abandoned read thread ends soon after.
        """
        url, kind = self.url, self.kind
        read_us = str(int(self.backstop_s * 1e6))
        kwargs: dict[str, Any] = {"timeout": (self.open_timeout_s, self.backstop_s)}
        options: dict[str, str] = {}
        if kind == "lavfi":
            url, kwargs["format"] = self.url[len("lavfi:") :], "lavfi"
        elif kind == "device":
            kwargs["format"] = "v4l2"
        elif kind == "rtsp":
            options.update(rtsp_transport=self.rtsp_transport, probesize="32", analyzeduration="0", timeout=read_us)
        elif kind == "http":
            # FFmpeg's own reconnect is off: a lost stream is reconnected (and counted) by the worker.
            options.update(rw_timeout=read_us, reconnect="0")
        elif kind == "stream":
            options.update(rw_timeout=read_us)
        if options:
            kwargs["options"] = options
        return url, kwargs

    def open(self) -> None:
        started = time.monotonic()
        if self.kind == "index":
            self._open_opencv(int(self.url))
        elif self.kind == "device" and not os.path.exists(self.url):
            raise SourceError("no_device", self.url, "no such video device (is the camera connected?)")
        elif self.kind == "file" and not os.path.exists(self.url):
            raise missing_file(self.url)
        else:
            self._open_av(started)
        self.open_s = time.monotonic() - started

    def _open_av(self, started: float) -> None:
        import av

        url, kwargs = self.av_open_args()
        try:
            self._container = av.open(url, **kwargs)
        except Exception as exc:  # PyAV raises many classes; all become SourceError
            error = classify_open_error(
                exc,
                self.url,
                network=self.network,
                elapsed_s=time.monotonic() - started,
                answer_timeout_s=min(self.open_timeout_s, self.backstop_s),
            )
            if self.kind == "device":
                self._open_device_with_opencv(error)
                return
            raise error from None
        if not self._container.streams.video:
            self.close()
            raise SourceError("not_video", self.url, "has no video stream")
        codec = self._container.streams.video[0].codec_context
        try:
            self._check_size(codec.width, codec.height)
        except SourceError:
            self.close()
            raise
        if self.max_pixels is not None:  # FFmpeg's own limit: a bigger frame (size unknown at open, or grown) is never allocated
            codec.options = {**codec.options, "max_pixels": str(self.max_pixels)}
        # Frame threading holds back a frame per thread (~130 ms at 15 fps on
        # 2 threads): good for a file's throughput, bad for a camera's latency.
        self._container.streams.video[0].thread_type = "SLICE" if self.live else "AUTO"

    def _open_device_with_opencv(self, error: SourceError) -> None:
        """PyAV's v4l2 input refused the device; OpenCV negotiates formats differently, so try it."""
        import cv2

        capture = cv2.VideoCapture(self.url, cv2.CAP_V4L2)
        if not capture.isOpened():
            capture.release()
            raise SourceError("no_device", self.url, f"cannot open the device ({error.detail})")
        log.info("%s: PyAV could not open the device (%s); using OpenCV", self.name, error.detail)
        self._capture = capture

    def _open_opencv(self, index: int) -> None:
        import cv2

        capture = cv2.VideoCapture(index)
        if not capture.isOpened():
            capture.release()
            raise SourceError("no_device", self.url, f"no webcam with index {index}")
        self._capture = capture

    def frames(self) -> Iterator[Frame]:
        """Decoded frames until the source ends.

        Raises SourceError when reading fails, when a live source ends
        (``disconnected``), or when a file turns out damaged (``corrupt``,
        raised after its good frames were yielded).
        """
        if self._capture is None and self._container is None:
            self.open()
        if self._capture is not None:
            yield from self._opencv_frames()
        else:
            yield from self._av_frames()

    def _av_frames(self) -> Iterator[Frame]:
        stream = self._container.streams.video[0]
        rate = float(stream.average_rate or 25)
        in_a_row = 0
        work = 0.0  # seconds of reading and decoding since the last frame; a live source's wait for data is not work
        packets = self._container.demux(stream)
        while True:
            began = time.perf_counter()
            try:
                packet = next(packets)
            except StopIteration:
                break
            except Exception as exc:
                raise self._read_error(exc) from None
            if not self.live:
                work += time.perf_counter() - began
            began = time.perf_counter()
            try:
                decoded = packet.decode()
            except Exception as exc:  # one bad packet: skip it, keep the connection
                self.decode_errors += 1
                in_a_row += 1
                log.debug("%s: packet skipped: %s", self.name, redact(str(exc)))
                if self.live and in_a_row >= MAX_CONSECUTIVE_DECODE_ERRORS:
                    raise SourceError("corrupt", self.url, f"{in_a_row} packets in a row could not be decoded") from None
                continue
            in_a_row = 0
            for frame in decoded:
                self._check_size(frame.width, frame.height)  # the size may change mid-stream
                pts = float(frame.time) if frame.time is not None else self.decoded / rate
                work += time.perf_counter() - began
                yield Frame(frame, pts, self.decoded, time.time(), work)
                self.decoded += 1
                work, began = 0.0, time.perf_counter()
        if self.live:
            raise SourceError("disconnected", self.url, f"the stream ended after {self.decoded} frames")
        self._check_complete(stream)

    def _check_size(self, width: int, height: int) -> None:
        if self.max_pixels is not None and width * height > self.max_pixels:
            raise SourceError("too_large", self.url, f"frames of {width}x{height} exceed ingest.max_frame_pixels ({self.max_pixels})")

    def _read_error(self, exc: BaseException) -> SourceError:
        name, text = type(exc).__name__, redact(str(exc))
        if not self.live and not self.network:
            return SourceError("corrupt", self.url, f"reading failed after {self.decoded} frames ({name}: {text})")
        if not self.live:  # a video file on a web server: the connection failed (or the server cannot seek)
            return SourceError("disconnected", self.url, f"reading failed after {self.decoded} frames ({name}: {text})")
        if name in ("TimeoutError", "ExitError"):
            return SourceError("stalled", self.url, f"no data for {self.backstop_s:g} s ({name})")
        return SourceError("disconnected", self.url, f"{name}: {text}")

    def _check_complete(self, stream: Any) -> None:
        """A file that decoded nothing, with bad packets, or far fewer frames than it declares is damaged.

        A file a little short of its declared count is a file: edit lists,
        B-frame reordering and rounded metadata make containers over-count by
        a few frames, and players show it without a word. Up to
        :func:`short_tolerance` missing frames end it normally, with one
        warning line; more is a cut-off file.
        """
        declared = int(stream.frames or 0)
        if self.decoded == 0:
            raise SourceError("not_video" if not self.decode_errors else "corrupt", self.url, "no frame could be decoded")
        if self.decode_errors:
            raise SourceError("corrupt", self.url, f"{self.decode_errors} damaged packet(s) skipped, {self.decoded} frames decoded")
        missing = declared - self.decoded
        if missing <= 0:
            return
        rate = float(stream.average_rate or 25)
        if missing > short_tolerance(rate):
            raise SourceError("corrupt", self.url, f"truncated: {self.decoded} of {declared} frames decoded")
        log.warning("%s: ended %d frame(s) short of the %d its container declares; taken as its end", self.name, missing, declared)

    def _opencv_frames(self) -> Iterator[Frame]:
        start = time.monotonic()
        while True:
            began = time.perf_counter()
            ok, image = self._capture.read()
            if not ok:
                raise SourceError("disconnected", self.url, f"the webcam stopped delivering frames after {self.decoded}")
            yield Frame(image, time.monotonic() - start, self.decoded, time.time(), time.perf_counter() - began)
            self.decoded += 1

    def close(self) -> None:
        if self._container is not None:
            try:
                self._container.close()
            except Exception:  # closing a broken container must not mask the original error
                log.debug("closing %s failed", self.name, exc_info=True)
            self._container = None
        if self._capture is not None:
            self._capture.release()
            self._capture = None
