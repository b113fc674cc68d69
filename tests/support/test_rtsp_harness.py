"""Checks of the RTSP test harness itself (tests/support/rtsp.py).

They also pin down the PyAV behaviour the ingest code relies on: which
options give a fast first frame, and which exception each failure raises.
"""

from __future__ import annotations

import time

import pytest

av = pytest.importorskip("av")

from tests.support.rtsp import RtspServer, RtspServerError, free_port, rtsp_available  # noqa: E402

pytestmark = pytest.mark.timeout(90)

# Options the ingest code is expected to use for RTSP (see the harness notes).
# probesize/analyzeduration: open in ~0.1 s instead of ~2 s. No
# fflags=nobuffer: it drops the packets read while probing, often the first
# key frame, which costs a whole GOP before the first decoded frame.
# timeout (µs): socket I/O timeout, so a stalled camera raises TimeoutError.
RTSP_OPTIONS = {"probesize": "32", "analyzeduration": "0", "timeout": "3000000"}
AV_TIMEOUT = (5.0, 3.0)  # (open, per-read) seconds, PyAV's interrupt callback

W, H, FPS = 320, 240, 15


@pytest.fixture(autouse=True, scope="module")
def _need_rtsp():
    ok, reason = rtsp_available()
    if not ok:
        pytest.skip(reason)


def first_frame(url: str, transport: str = "tcp"):
    """Open ``url`` and return (first decoded video frame, seconds it took)."""
    t0 = time.monotonic()
    opts = {**RTSP_OPTIONS, "rtsp_transport": transport}
    with av.open(url, options=opts, timeout=AV_TIMEOUT) as c:
        for frame in c.decode(video=0):
            return frame, time.monotonic() - t0
    raise AssertionError("stream ended before the first frame")


def read_until_end(container, limit_s: float) -> tuple[str, float]:
    """Demux until the stream ends or fails; ('eof'|'error'|'running', seconds)."""
    t0 = time.monotonic()
    try:
        for _ in container.demux(video=0):
            if time.monotonic() - t0 > limit_s:
                return "running", time.monotonic() - t0
    except av.error.FFmpegError:
        return "error", time.monotonic() - t0
    return "eof", time.monotonic() - t0


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_pattern_stream_decodes(transport):
    with RtspServer(free_port(), "/cam", width=W, height=H, fps=FPS) as cam:
        assert cam.url == f"rtsp://127.0.0.1:{cam.port}/cam"
        frame, took = first_frame(cam.url, transport)
        assert (frame.width, frame.height) == (W, H)
        assert took < 3.0, f"first frame took {took:.2f}s"


def test_file_stream_loops_at_requested_size(tmp_path):
    clip = tmp_path / "clip.mp4"
    codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
    with av.open(str(clip), "w") as out:
        s = out.add_stream(codec, rate=10)
        s.width, s.height, s.pix_fmt = 160, 120, "yuv420p"
        for i in range(10):  # a 1 s clip: the stream must outlive it (looping)
            f = av.VideoFrame(160, 120, "yuv420p")
            for plane in f.planes:
                plane.update(bytes([i * 20 % 256]) * plane.buffer_size)
            out.mux(s.encode(f))
        out.mux(s.encode())

    with RtspServer(0, "cam", file=clip, width=W, height=H, fps=FPS) as cam:
        assert cam.port > 0  # port 0: the server picked one and told us
        with av.open(cam.url, options={**RTSP_OPTIONS, "rtsp_transport": "tcp"},
                     timeout=AV_TIMEOUT) as c:
            t0 = time.monotonic()
            n = 0
            for frame in c.decode(video=0):
                assert (frame.width, frame.height) == (W, H)
                n += 1
                if time.monotonic() - t0 > 2.0:  # twice the clip's length
                    break
        assert n >= FPS, f"only {n} frames in 2 s"


def test_credentials():
    with RtspServer(free_port(), "/cam", user="alice", password="s3cr:t@", width=W,
                    height=H, fps=FPS) as cam:
        assert cam.url.startswith("rtsp://alice:s3cr%3At%40@127.0.0.1:")
        frame, _ = first_frame(cam.url)
        assert frame.width == W
        with pytest.raises(av.error.HTTPUnauthorizedError):
            first_frame(cam.url_with("alice", "wrong"))
        with pytest.raises(av.error.HTTPUnauthorizedError):
            first_frame(cam.bare_url)


def test_errors_are_distinguishable():
    port = free_port()
    with pytest.raises(av.error.ConnectionRefusedError):
        first_frame(f"rtsp://127.0.0.1:{port}/cam")
    with RtspServer(port, "/cam", width=W, height=H, fps=FPS) as cam, pytest.raises(av.error.HTTPNotFoundError):
        first_frame(f"rtsp://127.0.0.1:{cam.port}/other")


def test_kill_ends_reader_and_restart_on_same_port():
    cam = RtspServer(free_port(), "/cam", width=W, height=H, fps=FPS)
    cam.start()
    try:
        port = cam.port
        with av.open(cam.url, options={**RTSP_OPTIONS, "rtsp_transport": "tcp"},
                     timeout=AV_TIMEOUT) as c:
            next(iter(c.decode(video=0)))
            cam.kill()
            assert not cam.running
            how, took = read_until_end(c, limit_s=10.0)
        # A dead camera shows up as end of stream (or an error): never a hang.
        assert how in ("eof", "error"), how
        assert took < 8.0, f"reader noticed the dead camera after {took:.1f}s"

        cam.start()
        assert cam.port == port
        frame, _ = first_frame(cam.url)
        assert frame.width == W
    finally:
        cam.stop()
    assert not cam.running


def test_port_in_use_is_reported():
    with RtspServer(free_port(), "/cam", width=W, height=H, fps=FPS) as cam:
        other = RtspServer(cam.port, "/cam", start_timeout=2.0)
        with pytest.raises(RtspServerError, match="cannot listen"):
            other.start()
        assert not other.running
