"""Test helper: run a local RTSP camera (tests/support/rtsp_server.py).

The server runs under Debian's ``/usr/bin/python3`` because it needs the
system packages ``python3-gi`` and ``gir1.2-gst-rtsp-server-1.0`` (installed by
``scripts/system-deps.sh``), which the venv does not have. Importing this
module has no side effects.

Typical use::

    ok, reason = rtsp_available()
    if not ok:
        pytest.skip(reason)
    with RtspServer(free_port(), "/cam", user="u", password="p") as cam:
        container = av.open(cam.url, options={"rtsp_transport": "tcp"})
        ...
        cam.kill()       # the camera "crashes"
        cam.start()      # and comes back on the same port
"""

from __future__ import annotations

import ctypes
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

SYSTEM_PYTHON = "/usr/bin/python3"
SERVER_SCRIPT = Path(__file__).resolve().with_name("rtsp_server.py")
HOST = "127.0.0.1"

_PROBE = """
import gi
gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import Gst, GstRtspServer
Gst.init(None)
missing = [e for e in ("videotestsrc", "x264enc", "rtph264pay", "decodebin",
                       "videoconvert", "videoscale", "videorate", "appsrc", "appsink")
           if Gst.ElementFactory.find(e) is None]
if missing:
    raise SystemExit("missing GStreamer elements: " + " ".join(missing))
"""

_available: tuple[bool, str] | None = None


def rtsp_available() -> tuple[bool, str]:
    """Whether the RTSP test server can run here, and if not, why (cached)."""
    global _available
    if _available is None:
        _available = _probe()
    return _available


def _probe() -> tuple[bool, str]:
    hint = "run scripts/system-deps.sh as root"
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        return False, f"{SYSTEM_PYTHON} not found ({hint})"
    try:
        res = subprocess.run(
            [SYSTEM_PYTHON, "-c", _PROBE],
            capture_output=True,
            text=True,
            timeout=30,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"cannot run {SYSTEM_PYTHON}: {exc}"
    if res.returncode != 0:
        lines = (res.stderr or res.stdout).strip().splitlines()
        detail = lines[-1] if lines else f"exit status {res.returncode}"
        return False, f"GStreamer RTSP server unavailable to {SYSTEM_PYTHON}: {detail} ({hint})"
    return True, "ok"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _die_with_parent_fn():
    """A preexec_fn asking Linux to SIGTERM the server when the test process
    dies (PR_SET_PDEATHSIG), so a crashed test run leaves no camera behind.
    Note: "dies" means the thread that spawned it exits; spawn from the main
    thread (pytest fixtures do)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def fn() -> None:  # pragma: no cover - runs in the child
        prctl(1, signal.SIGTERM, 0, 0, 0)

    return fn


class RtspServerError(RuntimeError):
    pass


class RtspServer:
    """A local RTSP camera serving H.264 at ``rtsp://127.0.0.1:PORT/path``.

    ``file=None`` serves a live test pattern; otherwise ``file`` is looped.
    ``gop`` is the key frame interval in frames (server default: fps/2); a
    client joining the live stream decodes nothing before the next key frame.
    ``port=0`` lets the server pick a free port (read it back from ``.port``
    after ``start()``; a restart then reuses that port).
    """

    def __init__(
        self,
        port: int = 0,
        path: str = "/cam",
        file: str | os.PathLike[str] | None = None,
        user: str | None = None,
        password: str | None = None,
        fps: int = 15,
        width: int = 640,
        height: int = 360,
        gop: int | None = None,
        start_timeout: float = 20.0,
    ) -> None:
        if (user is None) != (password is None):
            raise ValueError("user and password go together")
        self.port = port
        self.path = path if path.startswith("/") else "/" + path
        self.file = None if file is None else os.fspath(file)
        self.user = user
        self.password = password
        self.fps = fps
        self.width = width
        self.height = height
        self.gop = gop
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen[str] | None = None
        self._errf = None

    # -- URLs -------------------------------------------------------------

    @property
    def url(self) -> str:
        """The stream URL, with the credentials embedded when there are any."""
        if self.user is None:
            return self.bare_url
        return self.url_with(self.user, self.password or "")

    @property
    def bare_url(self) -> str:
        """The stream URL without credentials."""
        return f"rtsp://{HOST}:{self.port}{self.path}"

    def url_with(self, user: str, password: str) -> str:
        """The stream URL with the given (possibly wrong) credentials."""
        u = urllib.parse.quote(user, safe="")
        p = urllib.parse.quote(password, safe="")
        return f"rtsp://{u}:{p}@{HOST}:{self.port}{self.path}"

    # -- lifecycle ----------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def command(self) -> list[str]:
        cmd = [
            SYSTEM_PYTHON, str(SERVER_SCRIPT),
            "--port", str(self.port), "--path", self.path,
            "--fps", str(self.fps), "--width", str(self.width), "--height", str(self.height),
        ]
        cmd += ["--file", self.file] if self.file is not None else ["--pattern"]
        if self.gop is not None:
            cmd += ["--gop", str(self.gop)]
        if self.user is not None:
            cmd += ["--user", self.user, "--password", self.password or ""]
        return cmd

    def start(self) -> RtspServer:
        """Spawn the server and wait until it listens (READY) or fail."""
        if self.running:
            raise RtspServerError("already running")
        # Restarting right after kill(): the port may still be held for a moment.
        deadline = time.monotonic() + self.start_timeout
        while True:
            err = self._spawn(deadline)
            if err is None:
                return self
            if "cannot listen" not in err or time.monotonic() > deadline - 1:
                raise RtspServerError(err)
            time.sleep(0.2)

    def _spawn(self, deadline: float) -> str | None:
        env = dict(os.environ)
        # The venv must not leak into Debian's interpreter.
        for k in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"):
            env.pop(k, None)
        # stderr goes to a file, not a pipe: nobody reads it while the server
        # runs, and a full pipe would block the server.
        errf = tempfile.TemporaryFile()  # noqa: SIM115 (kept open for the server's lifetime; closed in stop())
        proc = subprocess.Popen(
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=errf,
            text=True,
            env=env,
            preexec_fn=_die_with_parent_fn(),
        )
        line = ""
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            while time.monotonic() < deadline:
                if sel.select(timeout=max(0.0, min(0.5, deadline - time.monotonic()))):
                    line = proc.stdout.readline()
                    if line.startswith("READY") or line == "":
                        break
                elif proc.poll() is not None:
                    break
        if line.startswith("READY"):
            # "READY rtsp://127.0.0.1:PORT/path": learn the port when it was 0.
            url = line.split()[1] if len(line.split()) > 1 else ""
            port = urllib.parse.urlsplit(url).port
            if port:
                self.port = port
            self.proc = proc
            self._errf = errf
            return None
        _terminate(proc, 2.0)
        errf.seek(0)
        stderr = errf.read().decode(errors="replace").strip()
        errf.close()
        proc.stdout.close()
        if proc.returncode is None or proc.returncode < 0:
            return f"RTSP server not ready within {self.start_timeout}s: {stderr}"
        return f"RTSP server exited with status {proc.returncode}: {stderr}"

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM, then SIGKILL if it does not exit within ``timeout``."""
        if self.proc is None:
            return
        _terminate(self.proc, timeout)
        self._reap()

    def kill(self) -> None:
        """SIGKILL: the camera dies without closing its sessions."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._reap()

    def stderr_text(self) -> str:
        """What the running server wrote to stderr so far (for diagnostics)."""
        if self._errf is None:
            return ""
        # pread: the child shares the file offset, so do not move it.
        fd = self._errf.fileno()
        return os.pread(fd, os.fstat(fd).st_size, 0).decode(errors="replace")

    def _reap(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.stdout is not None:
            proc.stdout.close()
        if self._errf is not None:
            self._errf.close()
            self._errf = None

    def __enter__(self) -> RtspServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"RtspServer({self.bare_url!r}, {state})"


def _terminate(proc: subprocess.Popen, timeout: float) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
