"""Small helpers shared by tests (importable as ``tests.helpers``)."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

import numpy as np

from emostream.streams.facejob import FaceJob

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout: float, message: str, interval: float = 0.1) -> T:
    """Poll until ``predicate()`` is truthy; fail with ``message`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s: {message}")
        time.sleep(interval)


def alive(pid: int) -> bool:
    """The process ``pid`` has not ended (a zombie has ended: it only waits to be reaped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def stop_roles(procs: Mapping[str, subprocess.Popen[bytes]], within_s: float = 75.0) -> dict[str, int | str]:
    """SIGTERM every role still running and collect the exit codes, all against one deadline.

    A role still there at the deadline is killed and reported as ``"hung"`` (never an exception
    that would skip the caller's look at the logs). ``within_s`` leaves room for a role's own
    end-of-stop timer (``emostream.infra.lifeline.STOP_GRACE_S``), which ends a stuck role
    with its stacks in its log.
    """
    for proc in procs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + within_s
    codes: dict[str, int | str] = {}
    for role, proc in procs.items():
        try:
            codes[role] = proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            codes[role] = "hung"
    return codes


def face_job(source: str = "cam1", session: str = "cam1-s1", seq: int = 0, track: int = 1, size: int = 64, **kw: object) -> FaceJob:
    rng = np.random.default_rng(seq * 1000 + track)
    fields: dict[str, object] = dict(
        source=source, session=session, seq=seq, pts=seq / 10, offset=seq / 10, interval=0.1, captured_ts=time.time(),
        width=640, height=360, track=track, box=(10 * track, 20, 80, 80), detector="mediapipe", score=0.9,
        decode_detect_ms=5.0, crop=rng.integers(0, 256, (size, size, 1), dtype=np.uint8),
    )
    fields.update(kw)
    return FaceJob(**fields)  # type: ignore[arg-type]


class Ticks:
    """A monotonic clock for what a worker paces (its ``ticks``, a reader's ``monotonic``) that is due at every call.

    Each reading is an hour after the last, so whatever it paces (a lease round, track
    expiry, a claim) runs whenever the worker asks, and a test that steps the worker
    gets the same passes however fast it runs.
    """

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 3600.0
        return self.now
