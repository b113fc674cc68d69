"""Waiting for Redis at start-up, so workers started before it do not crash-loop.

On a first ``kubectl apply -k`` (or ``docker compose up``) the workers usually
start before Redis answers. Failing at once makes the orchestrator restart them
with its own growing back-off, which delays the start by minutes and fills the
events with crashes. A worker instead retries the connection with capped
exponential back-off, logs one line saying what it waits for, and gives up
after ``redis.startup_wait_s`` with the same clear message as before.

Only "cannot reach" is waited for. Refused credentials, a missing ACL
permission, a bad URL or a certificate that does not verify fail at once:
waiting would only hide a configuration error.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import redis

from emostream.config import RedisConfig
from emostream.infra.redact import redact
from emostream.streams.connection import connect
from emostream.streams.errors import RedisUnreachable

log = logging.getLogger(__name__)


def connect_when_up(
    cfg: RedisConfig,
    wait_s: float,
    retries: int = 3,
    stopping: Callable[[], bool] = lambda: False,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    connector: Callable[[RedisConfig, int], redis.Redis] | None = None,
) -> redis.Redis:
    """:func:`~emostream.streams.connection.connect`, retried for up to ``wait_s`` seconds while Redis cannot be reached.

    Raises the last :class:`~emostream.streams.errors.RedisUnreachable` (its message
    extended with how long it waited) once the time is up, or at once when
    ``wait_s`` is 0. ``clock``, ``sleep`` and ``connector`` are injected for tests.
    """
    attempt = connector or (lambda c, r: connect(c, retries=r))
    started = clock()
    delay = 0.25
    waiting = False
    while True:
        try:
            client = attempt(cfg, retries)
        except RedisUnreachable as exc:
            waited = clock() - started
            if waited + delay > wait_s or stopping():
                if waiting:
                    raise RedisUnreachable(f"{exc} (gave up after waiting {waited:.0f} s, redis.startup_wait_s={wait_s:g})") from None
                raise
            if not waiting:
                log.warning("waiting for Redis at %s (%s); retrying for up to %g s (redis.startup_wait_s)",
                            redact(cfg.url or ""), exc, wait_s)
                waiting = True
            sleep(delay)
            delay = min(delay * 2, 5.0)
            continue
        if waiting:
            log.warning("Redis at %s answers after %.1f s", redact(cfg.url or ""), clock() - started)
        return client
