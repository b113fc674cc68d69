"""The scripts of a source's lease (``aggregator/leases.py``): take, renew and give up.

Both keys of a source, its lease and its epoch, are tagged with the source id,
so every call stays in one cluster slot. KEYS and ARGV are documented at each
``streams/lua/lease_<name>.lua``.
"""

from __future__ import annotations

import redis

from emostream.streams.keys import Keys
from emostream.streams.scripts import ScriptCall, register


class LeaseScripts:
    """One typed method per script; each returns the :class:`ScriptCall`, to run at once or in a pipeline."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.keys = keys
        self._acquire = register(client, "lease_acquire")
        self._renew = register(client, "lease_renew")
        self._release = register(client, "lease_release")

    def acquire(self, source: str, token: str, member: str, now_ms: int, lease_ms: int) -> ScriptCall:
        """Take the lease if free; the reply is ``[epoch, previous token, how it ended]``, or None if held by another."""
        keys = [self.keys.agg_lease(source), self.keys.agg_epoch(source)]
        return ScriptCall(self._acquire, keys, [token, member, now_ms, lease_ms])

    def renew(self, source: str, token: str, now_ms: int, lease_ms: int) -> ScriptCall:
        """Push our lease's deadline on; the reply is 1, or 0 if the lease is no longer ours."""
        return ScriptCall(self._renew, [self.keys.agg_lease(source)], [token, now_ms, lease_ms])

    def release(self, source: str, token: str) -> ScriptCall:
        """Give the lease up; the reply is 1, or 0 if it was not ours."""
        return ScriptCall(self._release, [self.keys.agg_lease(source), self.keys.agg_epoch(source)], [token])
