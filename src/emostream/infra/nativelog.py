"""Keep the native libraries' start-up chatter off the terminal at the default log level.

TensorFlow, absl, MediaPipe and LiteRT write to file descriptor 2 from C++,
past Python's logging: ``INFO: Created TensorFlow Lite XNNPACK delegate for
CPU``, absl's "All log messages before absl::InitializeLog()", and on a
machine without a GPU ``failed call to cuInit``, which reads as a failure to a
new user. Environment variables silence only some of them
(``TF_CPP_MIN_LOG_LEVEL`` reaches TensorFlow, not LiteRT's own logger), so
:func:`filter_native_output` puts a pipe on descriptor 2 and a thread that
drops the lines known to be such chatter and passes every other line on.

Details at :func:`filter_native_output`.
"""

from __future__ import annotations

import atexit
import io
import os
import re
import sys
import threading

# Lines the native libraries print at start-up and shutdown that are no news to a user.
NOISE = re.compile(
    r"^(?:"
    r"INFO: "  # LiteRT / TFLite minimal logger: delegates, accelerators, environment
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|WARNING: Logging before InitGoogle\(\)"
    r"|[IW]\d{4} [\d:.]+ +\d+ [\w./-]+:\d+\] "  # absl/glog INFO and WARNING records (cudart stub, CPU features, alignment)
    r"|E\d{4} [\d:.]+ +\d+ cuda_[\w./-]+:\d+\] failed call to cuInit"  # "no GPU here", logged as an error
    r"|To enable the following instructions: .* rebuild TensorFlow"
    r"|oneDNN custom operations are on"
    r")"
)

_installed = False


def is_noise(line: str) -> bool:
    """Whether a line written by a native library is start-up chatter to drop at the default level."""
    return bool(NOISE.match(line))


def _pump(read_fd: int, out_fd: int) -> None:
    """Copy lines from the pipe to the real stderr, leaving out the chatter, until every writer closed it."""
    with open(read_fd, "rb", closefd=True) as pipe:
        for raw in pipe:
            if not is_noise(raw.decode("utf-8", "replace")):
                os.write(out_fd, raw)


def filter_native_output(level: str) -> None:
    """At any level but DEBUG, drop native start-up chatter from this process's stderr (once per process).

    Call it before the libraries are imported and before logging is set up, so
    log handlers write to the original stderr. Child processes inherit the
    filtered descriptor, so what they print is filtered too.

    Trade-offs: Python's own ``sys.stderr`` is pointed at the original
    descriptor, so log records never wait on the thread and none is lost at exit;
    native lines pass through the thread, so a native message written in the last
    instant before a hard crash may be lost. ``--log-level DEBUG`` installs no
    filter at all: everything is shown, as written.
    """
    global _installed
    if _installed or level.upper() == "DEBUG":
        return
    try:
        sys.stderr.flush()
        original = os.dup(2)
        read_fd, write_fd = os.pipe()
        os.dup2(write_fd, 2)
        os.close(write_fd)
    except OSError:  # no stderr at all (daemonised): nothing to filter
        return
    _installed = True
    sys.stderr = io.TextIOWrapper(io.FileIO(original, "w", closefd=False), line_buffering=True, errors="backslashreplace")
    pump = threading.Thread(target=_pump, args=(read_fd, original), name="native-stderr", daemon=True)
    pump.start()

    def drain() -> None:
        # Close this process's end of the pipe, then give the thread a moment to pass on what is left.
        try:
            os.dup2(original, 2)
        except OSError:
            return
        pump.join(timeout=1.0)

    atexit.register(drain)
