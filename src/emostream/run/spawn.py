"""How ``emostream run`` starts one worker process: nothing of it is left on disk, nothing outlives the runner.

- **Its configuration through a pipe** (``--config /dev/fd/N``), never a file:
  it may hold the Redis password, and a file would stay behind a runner that
  is SIGKILLed.
- **Its HTTP socket, bound here and inherited** (``--http-fd N``): the runner
  binds each role's port before starting anything, so a port that is taken is
  replaced by a free one (said in one line) with no race against another run
  on the same machine, and a host that cannot be served fails the start in
  one line.
- **Tied to the runner** (``--parent-pid``): see :mod:`emostream.infra.lifeline`.
"""

from __future__ import annotations

import errno
import socket
import subprocess

from emostream.config import Config
from emostream.infra.children import spawn_worker
from emostream.infra.httplimits import BindError

PORT_FIELDS = {"aggregate": "aggregator_port", "classify": "classifier_port", "ingest": "ingest_port"}
BACKLOG = 256  # as BoundedHTTPServer's listen backlog


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (0: a free port); :class:`BindError` if it cannot be had."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        return socket.create_server((host, port), family=family, backlog=BACKLOG)
    except OSError as exc:
        raise BindError((host, port), exc) from None


def http_sockets(config: Config) -> tuple[dict[str, socket.socket], list[str]]:
    """Each role's listening socket, a free port where its configured one is taken, and a note for each such change."""
    http = config.http
    sockets: dict[str, socket.socket] = {}
    notes: list[str] = []
    try:
        for role, field in PORT_FIELDS.items():
            port = int(getattr(http, field))
            if port < 0:
                continue
            try:
                sockets[role] = listen(http.host, port)
            except BindError as exc:
                if exc.errno != errno.EADDRINUSE or port == 0:
                    raise
                sockets[role] = listen(http.host, 0)
                notes.append(f"http.{field} {port} is taken; {role} uses {sockets[role].getsockname()[1]} instead")
    except BaseException:
        for sock in sockets.values():
            sock.close()
        raise
    return sockets, notes


def with_ports(config: Config, sockets: dict[str, socket.socket]) -> Config:
    """The configuration with the ports actually bound (for the web view's address and the workers' logs)."""
    ports = {PORT_FIELDS[role]: sock.getsockname()[1] for role, sock in sockets.items()}
    return config.model_copy(update={"http": config.http.model_copy(update=ports)})


def spawn(role: str, config_text: str, sock: socket.socket | None, log_level: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start ``python -m emostream <role>`` (:func:`emostream.infra.children.spawn_worker`) in a process group of its own:
    Ctrl-C reaches only the runner, which then stops the workers one by one in order."""
    return spawn_worker([role], config_text, sock, log_level, env, own_group=True)
