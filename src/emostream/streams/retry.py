"""What a worker does when one step of its loop fails: the retry ladder the classifier and aggregator share.

Rung by rung: Redis away (a connection error) is waited out by the
:class:`~emostream.streams.reconnect.Reconnector` ("lost Redis" / "back");
``NOGROUP`` (Redis restarted empty, noticed by a write) recreates the consumer
groups, through the ladder again; any other Redis error is logged and the
step is tried again after a short pause; any other failure (a poison batch,
a bug) is logged and counted, and the pause grows with the failures in a row
as the worker's ``failure_pause`` says. The step's work stays pending in its
stream, to be claimed or read again. Waits go through the injected ``wait``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

import redis

from emostream.streams.group_commands import is_nogroup
from emostream.streams.reconnect import Reconnector

log = logging.getLogger(__name__)

T = TypeVar("T")
REDIS_ERROR_PAUSE_S = 0.5


def flat_pause(_failures: int) -> float:
    """The same short pause after every failure."""
    return REDIS_ERROR_PAUSE_S


def growing_pause(failures: int) -> float:
    """0.2 s after the first failure in a row, doubling, at most 5 s: a failing batch does not spin."""
    return min(5.0, 0.1 * 2.0**failures)


class RetryLadder:
    """One step's error policy; :meth:`run` answers the step's result, or None if it failed."""

    def __init__(
        self,
        name: str,
        reconnector: Reconnector,
        wait: Callable[[float], object],
        on_nogroup: Callable[[], None],
        failure_pause: Callable[[int], float] = flat_pause,
    ) -> None:
        self.name = name
        self.reconnector = reconnector
        self.wait = wait
        self.on_nogroup = on_nogroup
        self.failure_pause = failure_pause
        self.failures = 0  # failures other than Redis's, in a row

    def run(self, op: Callable[[], T]) -> T | None:
        """``op()`` under the reconnector, or None if it failed (its work stays pending)."""
        try:
            result = self.reconnector.call(op)
            self.failures = 0
            return result
        except redis.ResponseError as exc:
            if is_nogroup(exc):
                self.run(self.on_nogroup)
            else:
                log.exception("%s: Redis command failed", self.name)
                self.wait(REDIS_ERROR_PAUSE_S)
        except redis.RedisError:
            log.exception("%s: Redis command failed", self.name)
            self.wait(REDIS_ERROR_PAUSE_S)
        except Exception:
            self.failures += 1
            log.exception("%s: step failed (%d in a row)", self.name, self.failures)
            self.wait(self.failure_pause(self.failures))
        return None
