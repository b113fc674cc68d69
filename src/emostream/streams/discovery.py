"""Finding the per-source streams: the sources registered in ``<prefix>:sources``.

Ingest adds each source id to that set when it first publishes, so a reader
that wants every source (the aggregator, ``emostream events``, the Python
subscriber) looks at the set about once a second and starts reading the
streams of sources it has not seen yet. A member that is not a valid source
id (``config.ids``) is skipped with one warning per member and process (then
only counted, ``infra.faults``): it would name a stream no emostream process writes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import redis

from emostream.config.ids import is_source_id, shown
from emostream.infra.faults import fault_log
from emostream.streams.keys import Keys

log = logging.getLogger(__name__)
_bad_members = fault_log("source_set_member", log)


def registered_sources(client: redis.Redis, keys: Keys) -> list[str]:
    """Every valid source id in ``<prefix>:sources``, sorted."""
    members: Any = client.smembers(keys.sources)
    out = []
    for raw in members:
        source = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
        if is_source_id(source):
            out.append(source)
        else:
            _bad_members.report(source, "invalid id", "ignoring %s in %s: not a valid source id (said once; counted in emostream_faults_total)",
                                shown(source), keys.sources)
    return sorted(out)


class SourceStreams:
    """The streams of the given sources, or of every registered source including later ones.

    :meth:`new` answers the streams not handed out before, looking at Redis at
    most every ``refresh_s`` seconds (``force`` looks now).
    """

    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        stream_of: Callable[[str], str],
        sources: list[str] | None = None,
        refresh_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.keys = keys
        self.stream_of = stream_of
        self.sources = sources
        self.refresh_s = refresh_s
        self.clock = clock
        self.known: set[str] = set()
        self._last = -float("inf")

    def new(self, force: bool = False) -> list[str]:
        now = self.clock()
        if not force and now - self._last < self.refresh_s:
            return []
        self._last = now
        sources = self.sources or registered_sources(self.client, self.keys)
        fresh = [stream for stream in map(self.stream_of, sources) if stream not in self.known]
        self.known.update(fresh)
        return fresh
