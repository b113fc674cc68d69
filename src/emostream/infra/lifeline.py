"""A worker started by ``emostream run`` dies with its runner, however the runner ends.

The runner stops its workers itself when it can; a SIGKILL (or a crash) gives
it no chance, and the workers would run on, holding their ports. So each
worker asks Linux for SIGTERM when its parent dies (``PR_SET_PDEATHSIG``), and
a thread also watches the parent's pid (other systems; and a parent that died
before the request was made). SIGTERM starts the usual drain; a worker that
has not exited ``grace_s`` after its parent died is ended outright, since with
the runner gone nobody is waiting for it.

However a role is asked to stop, it ends: :func:`end_within` arms a timer
(``faulthandler``'s, which needs neither the GIL nor a Python thread) that
writes every thread's stack to stderr and exits with 1 if the process is still
there when it fires. The roles' own drains are bounded well inside
:data:`STOP_GRACE_S`; the timer is for what no drain controls (a native library
holding a lock while the interpreter finalises), and its stacks say where.
"""

from __future__ import annotations

import ctypes
import faulthandler
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
STOP_GRACE_S = 50.0  # asked to stop: the longest drain, an ingest role's 30 s for its children, fits inside
EXIT_GRACE_S = 15.0  # drained: what is left is the interpreter's own exit


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


def end_within(grace_s: float) -> None:
    """Exit with 1, every thread's stack on stderr first, if this process still runs ``grace_s`` from now.

    A later call replaces the earlier timer. Stacks go to ``sys.stderr`` (the original
    descriptor even where :mod:`emostream.infra.nativelog` filters fd 2), so a role's log
    holds them.
    """
    faulthandler.dump_traceback_later(grace_s, exit=True, file=sys.stderr)
