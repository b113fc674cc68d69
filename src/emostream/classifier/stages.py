"""The batch between the take, model and commit stages, and each stage's error policy."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import redis

from emostream.streams.facejob import FaceJobHeader
from emostream.streams.group_commands import is_nogroup
from emostream.streams.reconnect import Reconnector

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class Taken:
    """A decoded batch: per face its stream, entry id and header, and all crops in one array."""

    streams: list[str]
    ids: list[bytes]
    headers: list[FaceJobHeader]
    crops: np.ndarray


@dataclass(frozen=True)
class Inferred:
    """A batch after the model: probabilities for the ``fresh`` faces, none for the ``stale`` ones."""

    taken: Taken
    fresh: list[int]
    stale: list[int]
    probabilities: np.ndarray
    taken_ts: float  # wall time the batch went to the model (end of its queue time)
    inference_s: float


class Stage:
    """A stage's error policy: Redis outages are retried, a failed batch is logged and left pending."""

    def __init__(self, name: str, stop: Callable[[], bool], wait: Callable[[float], object], on_nogroup: Callable[[], None]) -> None:
        self.name = name
        self.reconnector = Reconnector(name, stop)
        self.wait = wait
        self.on_nogroup = on_nogroup
        self.failures = 0

    def run(self, op: Callable[[], T]) -> T | None:
        """``op()``, or None if it failed; its batch then stays pending, to be claimed again after claim_idle_ms."""
        try:
            result = self.reconnector.call(op)
            self.failures = 0
            return result
        except redis.ResponseError as exc:
            if is_nogroup(exc):  # Redis restarted empty, noticed by a write: recreate the group
                self.run(self.on_nogroup)
            else:
                log.exception("%s: Redis command failed", self.name)
                self.wait(0.5)
        except redis.RedisError:
            log.exception("%s: Redis command failed", self.name)
            self.wait(0.5)
        except Exception:
            # A poison face cannot wedge the service: after max_deliveries it is dead-lettered.
            self.failures += 1
            log.exception("%s: batch failed (%d in a row)", self.name, self.failures)
            self.wait(min(5.0, 0.1 * 2**self.failures))
        return None
