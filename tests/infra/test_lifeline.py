"""A role asked to stop always ends: what still holds it after the grace is shown (every thread's stack) and ended.

Each case runs in a child process, as a role does: the timer ends its process.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# A worker whose drain never ends: serve() ignores the stop event and waits on a lock nobody releases.
HANGING_WORKER = """
    import logging, sys, threading
    from emostream.config import Config
    from emostream.infra import worker as base

    base.STOP_GRACE_S = 1.5
    logging.basicConfig(level=logging.INFO)

    def stuck_in_a_library():
        threading.Event().wait()

    class Hanging(base.Worker):
        role = "hanging"
        def serve(self):
            print("serving", flush=True)
            stuck_in_a_library()

    w = Hanging(Config())
    w.install_signal_handlers()
    sys.exit(w.run())
"""

# A process that drained but cannot exit: a non-daemon thread the interpreter waits for at exit.
HANGING_EXIT = """
    import threading
    from emostream.infra.lifeline import end_within

    def held_by_a_thread():
        threading.Event().wait()

    threading.Thread(target=held_by_a_thread, name="never-ends").start()
    end_within(1.5)
    print("drained", flush=True)
"""


def start(script: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"},
    )


def test_a_worker_whose_drain_hangs_is_ended_with_its_stacks_after_the_grace() -> None:
    proc = start(HANGING_WORKER)
    assert proc.stdout is not None and proc.stdout.readline() == "serving\n"
    asked = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1, err
    assert time.monotonic() - asked >= 1.5, "not before the grace"
    assert "draining" in err, "the stop was taken as usual first"
    assert "Timeout" in err and "stuck_in_a_library" in err, f"the stack that held it is in the log:\n{err}"


def test_a_process_that_cannot_finish_exiting_is_ended_with_its_stacks() -> None:
    proc = start(HANGING_EXIT)
    out, err = proc.communicate(timeout=30)
    assert out == "drained\n"
    assert proc.returncode == 1
    assert "held_by_a_thread" in err, err


def test_without_the_timer_such_a_process_would_hang() -> None:
    """The control: the same script, timer not armed, is still running when the others have long ended."""
    proc = start(HANGING_EXIT.replace("end_within(1.5)", "pass"))
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
    still_running = proc.poll() is None
    proc.kill()
    proc.communicate()
    assert still_running
