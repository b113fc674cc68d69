"""Starting a worker process the way every parent here does: ``python -m emostream ... ROLE``.

Used by ``emostream run`` (its three roles) and by an ingest role with
``ingest.processes`` > 1 (its children); both hand the child the same things:

- **its configuration through a pipe** (``--config /dev/fd/N``), never a file:
  it may hold the Redis password, and a file would stay behind a parent that
  is SIGKILLed;
- **its HTTP socket, bound by the parent and inherited** (``--http-fd N``);
- **the parent's pid** (``--parent-pid``): the child stops when the parent
  dies (:mod:`emostream.infra.lifeline`).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading


def spawn_worker(
    role_args: list[str], config_text: str, sock: socket.socket | None, log_level: str, env: dict[str, str], own_group: bool = False
) -> subprocess.Popen[bytes]:
    """Start ``python -m emostream --config /dev/fd/N ... ROLE_ARGS`` with ``config_text`` piped in.

    ``own_group``: in a process group of its own, so a Ctrl-C at the terminal
    reaches only the parent, which then stops its children in its own order.
    """
    read_end, write_end = os.pipe()
    fds = [read_end] + ([sock.fileno()] if sock is not None else [])
    cmd = [sys.executable, "-m", "emostream", "--config", f"/dev/fd/{read_end}", "--log-level", log_level, "--parent-pid", str(os.getpid())]
    if sock is not None:
        cmd += ["--http-fd", str(sock.fileno())]
    try:
        proc = subprocess.Popen([*cmd, *role_args], env=env, stdin=subprocess.DEVNULL, process_group=0 if own_group else None, pass_fds=fds)
    finally:
        os.close(read_end)
    # Written from a thread: a configuration larger than the pipe's buffer would block until the child reads it.
    threading.Thread(target=_write_all, args=(write_end, config_text.encode()), name=f"config-{role_args[0]}", daemon=True).start()
    return proc


def _write_all(fd: int, data: bytes) -> None:
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
    except OSError:  # the child died before reading it: its exit status says so
        pass
