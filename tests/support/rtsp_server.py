#!/usr/bin/python3
"""A small RTSP camera for tests, built on GStreamer's RTSP server.

Run it with Debian's interpreter (it needs ``gi`` and the GstRtspServer
typelib, which are system packages, not venv ones)::

    /usr/bin/python3 tests/support/rtsp_server.py --port 8554 --path /cam \
        [--file clip.mp4 | --pattern] [--user U --password P] \
        [--fps 15 --width 640 --height 360]

It listens on 127.0.0.1 only and serves one H.264 stream at ``--path``:

* ``--pattern`` (the default): ``videotestsrc is-live=true``;
* ``--file F``: the video of F, decoded once in a feeder pipeline that loops
  the file forever at real-time pace, scaled to ``--width``x``--height`` at
  ``--fps``, and pushed into the live RTSP pipeline (so, like a real camera,
  a client joining later sees the current frame, not the start of the file).

The media is shared: every client of the same path sees the same live stream.
The encoder is set up for low latency: ``x264enc tune=zerolatency
speed-preset=ultrafast key-int-max=<gop>`` (default ``--gop``: fps/2, a key
frame every 0.5 s, since a client joining a live stream waits for the next key
frame) and ``rtph264pay config-interval=1`` (SPS/PPS repeated with every key
frame; they are also in the SDP), so a new client decodes its first frame
quickly.

With ``--user``/``--password`` the server requires HTTP basic auth; missing or
wrong credentials get ``401 Unauthorized``.

Once it listens it prints one line ``READY rtsp://127.0.0.1:PORT/path`` on
stdout (``--port 0`` picks a free port; the line says which). SIGTERM or
SIGINT stop it cleanly with exit status 0. Errors go to stderr with a non-zero
exit status.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

HOST = "127.0.0.1"


def log(msg: str) -> None:
    print(f"rtsp_server[{os.getpid()}]: {msg}", file=sys.stderr, flush=True)


def encoder_chain(gop: int, bitrate_kbps: int) -> str:
    return (
        f"x264enc tune=zerolatency speed-preset=ultrafast key-int-max={gop} "
        f"bitrate={bitrate_kbps} threads=1 "
        "! video/x-h264,profile=constrained-baseline "
        "! rtph264pay name=pay0 pt=96 config-interval=1"
    )


def raw_caps(width: int, height: int, fps: int) -> str:
    return f"video/x-raw,format=I420,width={width},height={height},framerate={fps}/1"


class FileFeeder:
    """Decodes a file in a loop at real-time pace; pushes frames to live appsrcs."""

    def __init__(self, path: str, width: int, height: int, fps: int) -> None:
        loc = path.replace("\\", "\\\\").replace('"', '\\"')
        desc = (
            f'filesrc location="{loc}" ! decodebin name=d '
            "d. ! videoconvert ! videoscale ! videorate "
            f"! {raw_caps(width, height, fps)} "
            "! appsink name=sink sync=true emit-signals=true max-buffers=2 drop=true"
        )
        self.pipeline = Gst.parse_launch(desc)
        self.sink = self.pipeline.get_by_name("sink")
        self.sink.connect("new-sample", self._on_sample)
        self._lock = threading.Lock()
        self._appsrcs: list[Gst.Element] = []
        self.error: str | None = None

    def start(self, timeout_s: float = 15.0) -> None:
        bus = self.pipeline.get_bus()
        bus.add_signal_watch()
        bus.connect("message", self._on_message)
        if self.pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
            raise RuntimeError(self._pop_error() or "feeder pipeline failed to start")
        ret, _, _ = self.pipeline.get_state(int(timeout_s * Gst.SECOND))
        if ret == Gst.StateChangeReturn.FAILURE:
            raise RuntimeError(self._pop_error() or "feeder pipeline failed to preroll")
        if ret == Gst.StateChangeReturn.ASYNC:
            raise RuntimeError(f"feeder pipeline did not preroll within {timeout_s}s")

    def _pop_error(self) -> str | None:
        msg = self.pipeline.get_bus().pop_filtered(Gst.MessageType.ERROR)
        if msg is not None:
            err, dbg = msg.parse_error()
            return f"{err.message} ({dbg})"
        return self.error

    def stop(self) -> None:
        self.pipeline.set_state(Gst.State.NULL)

    def add(self, appsrc: Gst.Element) -> None:
        with self._lock:
            self._appsrcs.append(appsrc)

    def remove(self, appsrc: Gst.Element) -> None:
        with self._lock:
            if appsrc in self._appsrcs:
                self._appsrcs.remove(appsrc)

    def _on_sample(self, sink: Gst.Element) -> Gst.FlowReturn:
        sample = sink.emit("pull-sample")
        if sample is None:
            return Gst.FlowReturn.OK
        with self._lock:
            targets = list(self._appsrcs)
        if not targets:
            return Gst.FlowReturn.OK
        buf = sample.get_buffer().copy()  # shares the memory
        # Let the live appsrc stamp it with its own running time (do-timestamp).
        buf.pts = Gst.CLOCK_TIME_NONE
        buf.dts = Gst.CLOCK_TIME_NONE
        buf.duration = Gst.CLOCK_TIME_NONE
        for src in targets:
            src.emit("push-buffer", buf)
        return Gst.FlowReturn.OK

    def _on_message(self, _bus: Gst.Bus, msg: Gst.Message) -> None:
        if msg.type == Gst.MessageType.EOS:
            # Loop: back to the start of the file.
            self.pipeline.seek_simple(
                Gst.Format.TIME, Gst.SeekFlags.FLUSH | Gst.SeekFlags.KEY_UNIT, 0
            )
        elif msg.type == Gst.MessageType.ERROR:
            err, dbg = msg.parse_error()
            self.error = f"{err.message} ({dbg})"
            log(f"feeder error: {self.error}")


def build_factory(args: argparse.Namespace, feeder: FileFeeder | None) -> GstRtspServer.RTSPMediaFactory:
    factory = GstRtspServer.RTSPMediaFactory()
    enc = encoder_chain(args.gop, args.bitrate)
    if feeder is None:
        launch = (
            f"( videotestsrc is-live=true pattern={args.pattern_name} "
            f"! {raw_caps(args.width, args.height, args.fps)} ! {enc} )"
        )
    else:
        launch = (
            "( appsrc name=src is-live=true do-timestamp=true format=time "
            "block=false max-buffers=2 leaky-type=downstream "
            f'caps="{raw_caps(args.width, args.height, args.fps)}" '
            f"! queue max-size-buffers=2 leaky=downstream ! {enc} )"
        )

        def on_configure(_factory, media):
            appsrc = media.get_element().get_child_by_name("src")
            feeder.add(appsrc)
            media.connect("unprepared", lambda _m: feeder.remove(appsrc))

        factory.connect("media-configure", on_configure)
    factory.set_launch(launch)
    factory.set_shared(True)

    if args.user is not None:
        perms = GstRtspServer.RTSPPermissions()
        perms.add_permission_for_role("user", "media.factory.access", True)
        perms.add_permission_for_role("user", "media.factory.construct", True)
        factory.set_permissions(perms)
    return factory


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, default=8554, help="TCP port (0: pick a free one)")
    p.add_argument("--path", default="/cam", help="mount path, e.g. /cam")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--file", help="video file to loop")
    src.add_argument("--pattern", action="store_true", help="live test pattern (default)")
    p.add_argument("--pattern-name", default="ball", help="videotestsrc pattern (default: ball)")
    p.add_argument("--user")
    p.add_argument("--password")
    p.add_argument("--fps", type=int, default=15)
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=360)
    p.add_argument(
        "--gop", type=int, default=None,
        help="key frame interval in frames (default: fps/2, i.e. every 0.5 s)",
    )
    p.add_argument("--bitrate", type=int, default=1000, help="H.264 bitrate, kbit/s")
    args = p.parse_args(argv)
    if (args.user is None) != (args.password is None):
        p.error("--user and --password go together")
    if not args.path.startswith("/"):
        args.path = "/" + args.path
    if args.file is not None and not os.path.isfile(args.file):
        p.error(f"no such file: {args.file}")
    if args.fps <= 0 or args.width <= 0 or args.height <= 0:
        p.error("--fps, --width and --height must be positive")
    if args.gop is None:
        args.gop = max(1, (args.fps + 1) // 2)
    if args.gop <= 0:
        p.error("--gop must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    Gst.init(None)
    loop = GLib.MainLoop()

    feeder = None
    if args.file is not None:
        feeder = FileFeeder(os.path.abspath(args.file), args.width, args.height, args.fps)
        try:
            feeder.start()
        except RuntimeError as exc:
            log(f"cannot play {args.file}: {exc}")
            feeder.stop()
            return 1

    server = GstRtspServer.RTSPServer()
    server.set_address(HOST)
    server.set_service(str(args.port))
    if args.user is not None:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "user")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password), token)
        server.set_auth(auth)
    server.get_mount_points().add_factory(args.path, build_factory(args, feeder))

    if server.attach(None) == 0:
        log(f"cannot listen on {HOST}:{args.port} (port in use?)")
        if feeder is not None:
            feeder.stop()
        return 2

    def on_signal(signum: int) -> bool:
        log(f"signal {signum}, stopping")
        loop.quit()
        return GLib.SOURCE_REMOVE

    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, sig, on_signal, sig)

    print(f"READY rtsp://{HOST}:{server.get_bound_port()}{args.path}", flush=True)
    try:
        loop.run()
    finally:
        if feeder is not None:
            feeder.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
