"""Opening sources: URL kinds, FFmpeg options, and one clear error kind per bad input."""

from __future__ import annotations

import functools
import http.server
import itertools
import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import av
import pytest

from benchmarks.scenes import testclips
from benchmarks.scenes.faces import fer_dir
from benchmarks.scenes.generate import CACHE as SCENE_CACHE
from emostream.config.sources import guess_live, source_kind
from emostream.ingest.errors import KINDS, SourceError, classify_open_error
from emostream.ingest.reader import LatestFrameReader
from emostream.ingest.sources import VideoSource, short_tolerance


@pytest.mark.parametrize(
    ("url", "kind", "live"),
    [
        ("rtsp://cam.local/stream1", "rtsp", True),
        ("rtsps://cam.local/stream1", "rtsp", True),
        ("https://example.org/live/index.m3u8", "http", True),
        ("http://example.org/clips/a.mp4?token=1", "http", False),
        ("srt://10.0.0.1:9000", "stream", True),
        ("/dev/video0", "device", True),
        ("0", "index", True),
        ("lavfi:testsrc=size=320x240:rate=10", "lavfi", True),
        ("/videos/clip.mp4", "file", False),
        ("clip.mkv", "file", False),
    ],
)
def test_url_kinds_and_liveness(url: str, kind: str, live: bool) -> None:
    assert source_kind(url) == kind, f"{url} should be a {kind} source"
    assert guess_live(url) is live, f"{url} should {'' if live else 'not '}be live"


def test_rtsp_opens_with_a_tiny_probe_a_socket_timeout_and_no_nobuffer() -> None:
    """Measured on loopback: these options give a first frame in ~0.15 s (defaults: ~2 s); nobuffer costs a GOP."""
    url, kwargs = VideoSource("rtsp://u:p@127.0.0.1/cam", read_timeout_s=3.0, open_timeout_s=5.0).av_open_args()
    options = kwargs["options"]
    assert url == "rtsp://u:p@127.0.0.1/cam"
    assert options["rtsp_transport"] == "tcp"
    assert options["probesize"] == "32" and options["analyzeduration"] == "0"
    assert options["timeout"] == "6000000", "FFmpeg's socket timeout (µs) is twice the read timeout, a backstop behind the reader's"
    assert "fflags" not in options, "fflags=nobuffer drops the first key frame"
    assert kwargs["timeout"] == (5.0, 6.0)
    udp = VideoSource("rtsp://127.0.0.1/cam", rtsp_transport="udp").av_open_args()[1]["options"]
    assert udp["rtsp_transport"] == "udp"


def test_http_streams_time_out_reads_and_leave_reconnecting_to_the_worker() -> None:
    options = VideoSource("https://example.org/live.m3u8", read_timeout_s=2.0).av_open_args()[1]["options"]
    assert options == {"rw_timeout": "4000000", "reconnect": "0"}


def test_lavfi_test_source_delivers_frames_as_a_live_device() -> None:
    source = VideoSource("lavfi:testsrc=size=320x240:rate=15")
    assert source.live, "a lavfi graph stands in for a device: live"
    source.open()
    reader = LatestFrameReader(source)
    try:
        frame = reader.take(5.0)
    finally:
        reader.stop(join_s=5.0)
    assert frame is not None and frame.image.shape == (240, 320, 3), "lavfi testsrc should give 320x240 BGR frames"


def test_lavfi_reader_keeps_only_the_newest_frame() -> None:
    """testsrc is not paced: it decodes far faster than we take, so almost every frame is overwritten (dropped)."""
    source = VideoSource("lavfi:testsrc=size=160x120:rate=30")
    source.open()
    reader = LatestFrameReader(source)
    try:
        first = reader.take(5.0)
        time.sleep(0.3)
        second = reader.take(5.0)
    finally:
        reader.stop(join_s=5.0)
    assert first is not None and second is not None
    assert second.index > first.index + 1, "the reader should hand out the newest frame, not the next one"
    assert reader.overwritten >= second.index - first.index - 1, "every frame replaced before it was taken is counted"


def test_a_file_read_as_a_camera_in_realtime_hands_frames_over_at_their_own_pace(demo_clip: Path) -> None:
    """``live: true`` with ``realtime``: a file behaves like a camera, not like a fast decoder."""
    source = VideoSource(str(demo_clip), live=True)
    source.open()
    reader = LatestFrameReader(source, realtime=True)
    try:
        first = reader.take(5.0)
        began = time.monotonic()
        time.sleep(1.0)
        later = reader.take(5.0)
        waited = time.monotonic() - began
    finally:
        reader.stop(join_s=5.0)
    assert first is not None and later is not None
    played = later.pts - first.pts
    assert waited - 0.3 <= played <= waited + 0.3, f"{waited:.2f} s of wall time played {played:.2f} s of the clip"
    assert later.captured_ts - first.captured_ts >= 0.7, "a paced frame is captured when it is due, not when decoded"


def open_error(url: str) -> SourceError:
    source = VideoSource(url)
    with pytest.raises(SourceError) as caught:
        for _ in source.frames():
            pass
    source.close()
    return caught.value


def test_missing_device_is_a_no_device_error_at_once() -> None:
    started = time.monotonic()
    error = open_error("/dev/video99")
    assert error.kind == "no_device" and "/dev/video99" in str(error), str(error)
    assert time.monotonic() - started < 1.0, "a missing device must fail immediately, not after a timeout"


def test_missing_webcam_index_is_a_no_device_error() -> None:
    error = open_error("99")
    assert error.kind == "no_device" and "index 99" in str(error), str(error)


def test_pyav_itself_reports_a_missing_v4l2_device_as_file_not_found() -> None:
    """Why the device path is checked before av.open: FFmpeg's error says 'no such file', not 'no camera'."""
    with pytest.raises(av.error.FileNotFoundError):
        av.open("/dev/video99", format="v4l2")


@pytest.mark.parametrize(
    ("name", "kind", "says"),
    [
        ("not_video", "not_video", "not a video file"),
        ("empty", "not_video", "not a video file"),
        ("truncated", "corrupt", "damaged or truncated"),
    ],
)
def test_a_file_that_cannot_be_opened_names_itself_and_why(bad_files: dict[str, Path], name: str, kind: str, says: str) -> None:
    error = open_error(str(bad_files[name]))
    assert error.kind == kind, f"{name}: expected kind {kind}, got {error.kind} ({error})"
    assert str(bad_files[name]) in str(error) and says in str(error), str(error)


def test_a_file_truncated_after_its_index_yields_its_good_frames_then_a_corrupt_error(bad_files: dict[str, Path]) -> None:
    source = VideoSource(str(bad_files["truncated_faststart"]))
    frames = 0
    with pytest.raises(SourceError) as caught:
        for _ in source.frames():
            frames += 1
    assert caught.value.kind == "corrupt" and "truncated" in str(caught.value), str(caught.value)
    assert 60 <= frames < 180, f"about half of the 180 frames should decode before the error, got {frames}"


def test_damaged_packets_are_skipped_and_counted_not_fatal(bad_files: dict[str, Path]) -> None:
    source = VideoSource(str(bad_files["corrupt"]))
    frames = 0
    with pytest.raises(SourceError) as caught:
        for _ in source.frames():
            frames += 1
    assert caught.value.kind == "corrupt" and "damaged packet" in str(caught.value), str(caught.value)
    assert source.decode_errors > 0, "the damaged packets should be counted"
    assert frames + source.decode_errors >= 170, f"only {frames} frames decoded and {source.decode_errors} skipped of 180"


def test_a_missing_file_is_not_found() -> None:
    error = open_error("/nonexistent/folder/clip.mp4")
    assert error.kind == "not_found" and "/nonexistent/folder/clip.mp4" in str(error), str(error)


def test_the_demo_clip_decodes_completely_with_increasing_pts(demo_clip: Path) -> None:
    source = VideoSource(str(demo_clip))
    frames = list(source.frames())
    assert len(frames) == 180, f"the demo clip has 180 frames, decoded {len(frames)}"
    assert all(b.pts > a.pts for a, b in itertools.pairwise(frames)), "presentation times must increase"
    assert abs(frames[-1].pts - 179 / 15) < 1e-3


def fake_av_error(name: str, message: str, errno: int | None = None) -> Exception:
    """An exception shaped like PyAV's: the class name and errno are what the mapping looks at."""
    exc = type(name, (Exception,), {})(message)
    exc.errno, exc.strerror = errno, message  # type: ignore[attr-defined]
    return exc


@pytest.mark.parametrize(
    ("exc", "network", "elapsed", "kind"),
    [
        (fake_av_error("HTTPUnauthorizedError", "401 Unauthorized"), True, 0.1, "auth"),
        (fake_av_error("HTTPNotFoundError", "404 Not Found"), True, 0.1, "not_found"),
        (fake_av_error("ConnectionRefusedError", "Connection refused", 111), True, 0.0, "unreachable"),
        (fake_av_error("InvalidDataError", "Invalid data found when processing input"), True, 3.0, "unreachable"),
        (fake_av_error("InvalidDataError", "Invalid data found when processing input"), True, 0.1, "not_video"),
        (fake_av_error("OSError", "Network is unreachable", 101), True, 0.0, "unreachable"),
        (fake_av_error("ValueError", "something odd"), False, 0.0, "error"),
    ],
)
def test_ffmpeg_open_errors_map_to_kinds(exc: Exception, network: bool, elapsed: float, kind: str) -> None:
    """A server that accepts but never answers gives InvalidDataError after the timeout: that is 'unreachable', not 'not_video'."""
    error = classify_open_error(exc, "rtsp://admin:pw@10.0.0.9/cam", network=network, elapsed_s=elapsed, answer_timeout_s=3.0)
    assert error.kind == kind, f"{type(exc).__name__} after {elapsed} s should be {kind}, got {error.kind}"
    assert error.kind in KINDS


def test_source_errors_never_carry_the_password() -> None:
    url = "rtsp://admin:hunter2@10.0.0.9/cam"
    error = SourceError("unreachable", url, f"cannot open '{url}': Connection refused")
    assert "hunter2" not in str(error) and "hunter2" not in error.detail, str(error)
    assert str(error).startswith("rtsp://admin:***@10.0.0.9/cam: "), str(error)


@pytest.fixture(scope="module")
def web_server(tmp_path_factory: pytest.TempPathFactory, demo_clip: Path) -> Iterator[str]:
    """The demo clip as an HLS playlist and as a progressive MP4 (index first), served over HTTP on loopback."""
    folder = tmp_path_factory.mktemp("www")
    with av.open(str(demo_clip)) as src:
        stream_in = src.streams.video[0]
        with av.open(str(folder / "live.m3u8"), "w", format="hls", options={"hls_time": "2", "hls_playlist_type": "vod"}) as hls, \
                av.open(str(folder / "clip.mp4"), "w", options={"movflags": "faststart"}) as mp4:
            outs = [hls.add_stream_from_template(stream_in), mp4.add_stream_from_template(stream_in)]
            for packet in src.demux(stream_in):
                if packet.dts is None:
                    continue
                for container, out in zip((hls, mp4), outs, strict=True):
                    packet.stream = out
                    container.mux(packet)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_an_hls_playlist_is_read_as_a_live_stream_whose_end_is_a_disconnect(web_server: str) -> None:
    source = VideoSource(f"{web_server}/live.m3u8")
    frames = 0
    with pytest.raises(SourceError) as caught:
        for _ in source.frames():
            frames += 1
    assert source.live and frames == 180, f"all 180 frames of the playlist should decode, got {frames}"
    assert caught.value.kind == "disconnected", "a live stream that ends is a disconnect, to be reconnected"


def test_a_video_file_on_a_web_server_is_read_completely(web_server: str) -> None:
    source = VideoSource(f"{web_server}/clip.mp4")
    assert not source.live, "an http(s) link to an .mp4 is a file"
    assert sum(1 for _ in source.frames()) == 180


def test_a_missing_http_stream_is_not_found(web_server: str) -> None:
    error = open_error(f"{web_server}/nope.m3u8")
    assert error.kind == "not_found" and "404" in str(error), str(error)


def test_a_password_file_fills_in_the_urls_user_part_at_connect_time(tmp_path: Path) -> None:
    from pydantic import ValidationError

    from emostream.config import SourceConfig

    secret = tmp_path / "cam.pass"
    secret.write_text("p@ss:w/rd\n")
    src = SourceConfig(id="cam", url="rtsp://admin@10.0.0.5:554/live", password_file=secret)
    assert src.resolved_url() == "rtsp://admin:p%40ss%3Aw%2Frd@10.0.0.5:554/live", "the password must be percent-encoded"
    secret.write_text("rotated\n")
    assert src.resolved_url() == "rtsp://admin:rotated@10.0.0.5:554/live", "the file is read at each connect"
    with pytest.raises(ValidationError, match="needs a user name"):
        SourceConfig(id="cam", url="rtsp://10.0.0.5/live", password_file=secret)


def test_a_server_that_accepts_but_never_answers_is_unreachable_after_the_open_timeout() -> None:
    """FFmpeg reports this as InvalidDataError, the class it uses for 'not a video'; the timing tells them apart."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)  # the kernel completes the handshake; nobody ever answers
        source = VideoSource(f"rtsp://127.0.0.1:{silent.getsockname()[1]}/cam", open_timeout_s=1.0, read_timeout_s=1.0)
        started = time.monotonic()
        with pytest.raises(SourceError) as caught:
            source.open()
        took = time.monotonic() - started
    assert caught.value.kind == "unreachable" and "did not answer" in str(caught.value), str(caught.value)
    assert took < 4.0, f"the open should give up after about open_timeout_s (1 s), took {took:.1f} s"


needs_fer = pytest.mark.skipif(
    not (fer_dir() / "fer2013new.csv").is_file() and not (SCENE_CACHE / "faces-tune.npz").is_file(),
    reason="no FER2013/FER+ data (../shared/data/fer2013 or EMOSTREAM_FER_DIR) and no cached face pool",
)


@needs_fer
def test_a_file_a_few_frames_short_of_its_count_ends_normally_with_one_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # Given an MP4 whose index declares 98 frames, 95 of them in the file
    clip = testclips.short_file(tmp_path, frames=98, missing=3)
    source = VideoSource(str(clip.path))
    # When it is read to its end
    with caplog.at_level(logging.WARNING, logger="emostream.ingest.sources"):
        frames = sum(1 for _ in source.frames())
    # Then every frame in it came out, no error was raised, and one warning names the shortfall
    assert frames == 95, f"the 95 frames in the file should decode, got {frames}"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "3 frame(s) short of the 98" in warnings[0], warnings


@needs_fer
def test_a_file_cut_well_before_its_declared_end_is_still_corrupt(tmp_path: Path) -> None:
    # Given the same kind of file with 20 of its 98 frames cut off (1.3 s at 15 fps: past the 5-frame / 0.5 s tolerance)
    clip = testclips.short_file(tmp_path, frames=98, missing=20)
    source = VideoSource(str(clip.path))
    frames = 0
    # When it is read, its good frames come out, then the cut is an error
    with pytest.raises(SourceError) as caught:
        for _ in source.frames():
            frames += 1
    assert caught.value.kind == "corrupt" and "truncated: 78 of 98" in str(caught.value), str(caught.value)
    assert frames == 78


def test_the_tolerance_is_five_frames_or_half_a_second() -> None:
    assert short_tolerance(15.0) == 7 and short_tolerance(60.0) == 30
    assert short_tolerance(5.0) == 5, "a slow file may still lack a few frames"
