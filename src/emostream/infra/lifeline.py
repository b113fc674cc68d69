"""A worker started by ``emostream run`` dies with its runner, however the runner ends.

The runner stops its workers itself when it can; a SIGKILL (or a crash) gives
it no chance, and the workers would run on, holding their ports. So each
worker asks Linux for SIGTERM when its parent dies (``PR_SET_PDEATHSIG``), and
a thread also watches the parent's pid (other systems; and a parent that died
before the request was made). SIGTERM starts the usual drain; a worker that
has not exited ``grace_s`` after its parent died is ended outright, since with
the runner gone nobody is waiting for it.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
import time

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1
WATCH_S = 0.5
GRACE_S = 10.0


def _death_signal() -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) != 0:
            log.debug("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
    except (OSError, AttributeError) as exc:  # no libc prctl: the watch thread still works
        log.debug("prctl unavailable: %s", exc)


def tie_to_parent(parent_pid: int, grace_s: float = GRACE_S) -> threading.Thread:
    """SIGTERM this process when ``parent_pid`` is no longer its parent; exit after ``grace_s`` more seconds."""
    _death_signal()

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(WATCH_S)
        log.warning("the runner (pid %d) is gone; stopping", parent_pid)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(grace_s)
        os._exit(1)  # still draining with nobody to report to: end now

    thread = threading.Thread(target=watch, name="lifeline", daemon=True)
    thread.start()
    return thread
