"""Lua script calls in a pipeline, on one Redis and on a Redis Cluster alike.

Details at :class:`ScriptPipeline`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import redis
from redis.commands.core import Script

ScriptArg = str | int | float | bytes | memoryview


class ScriptPipeline:
    """A non-transactional pipeline (``pipe`` for plain commands) that also carries script calls.

    redis-py's cluster pipeline refuses ``Script`` objects (it blocks ``EVALSHA``
    by name) and has no ``SCRIPT EXISTS`` step before executing, so a master that
    never saw a script (a replica promoted by a failover, a restarted master)
    answers ``NOSCRIPT``. :class:`ScriptPipeline` queues the raw ``EVALSHA`` there
    (the cluster pipeline still checks that a call's keys share one slot and sends
    it to that slot's master), and runs a call that came back ``NOSCRIPT`` again
    through the cluster client, which loads the script on every master first
    (``SCRIPT LOAD`` goes to all of them). A ``NOSCRIPT`` call ran nothing, so
    running it again is safe; the first batch after a start or a failover pays
    one extra round trip per script and master. On one Redis it is
    redis-py's own pipeline, which loads missing scripts before executing.

    To find the keys of an ``EVALSHA``, redis-py's cluster pipeline asks the
    client's default node (``COMMAND GETKEYS``) and, unlike for a command's own
    target, never moves that default off a node that is gone. If the default
    node was the master a failover removed, every later batch would fail to
    connect to it, forever. :meth:`ScriptPipeline.execute` therefore moves the
    default to another master when a batch cannot connect, before the error goes
    on to the caller's retry.

    The pipeline is never a transaction: every caller's scripts are idempotent or
    compare-and-set, and their keys are those of one session or one source.
    """

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.cluster = isinstance(client, redis.RedisCluster)
        self.pipe: Any = client.pipeline(transaction=False)
        self._calls: dict[int, tuple[Script, list[str], list[ScriptArg]]] = {}  # cluster: position -> the call

    def script(self, script: Script, keys: Sequence[str], args: Sequence[ScriptArg]) -> None:
        if not self.cluster:
            script(keys=list(keys), args=list(args), client=self.pipe)
            return
        self._calls[len(self.pipe)] = (script, list(keys), list(args))
        self.pipe.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)

    def execute(self) -> list[Any]:
        """Every reply, in order; the first error is raised (after the ``NOSCRIPT`` calls ran again)."""
        if not self.cluster:
            replies: list[Any] = self.pipe.execute()
            return replies
        calls, self._calls = self._calls, {}
        try:
            replies = self.pipe.execute(raise_on_error=False)
        except (redis.ConnectionError, redis.TimeoutError):
            cast(redis.RedisCluster, self.client).replace_default_node()  # perhaps the node that is gone; the caller retries
            raise
        for position, (script, keys, args) in calls.items():
            if isinstance(replies[position], redis.exceptions.NoScriptError):
                replies[position] = script(keys=keys, args=args)
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return replies
