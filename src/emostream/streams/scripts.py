"""Every Lua script, loaded from ``streams/lua/``, and the pipelines that run a batch of their calls.

A script's KEYS, ARGV and reply are documented once, at the top of its
``.lua`` file; the roles call it through one typed method of ``session_scripts``,
``lease_scripts`` or ``commit_scripts``, which returns a :class:`ScriptCall` to
run at once or add to a pipeline. The pipeline suits the client, chosen once
by :func:`script_pipeline`. Details at :class:`ClusterScriptPipeline`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any, cast

import redis
from redis.commands.core import Script

ScriptArg = str | int | float | bytes | memoryview


@cache
def lua_source(name: str) -> str:
    """The text of ``streams/lua/<name>.lua`` (shipped as package data)."""
    return files("emostream.streams").joinpath("lua", f"{name}.lua").read_text(encoding="utf-8")


def register(client: redis.Redis, name: str) -> Script:
    """The script ``name`` bound to ``client`` (EVALSHA, loading the script again after a Redis restart)."""
    return client.register_script(lua_source(name))


@dataclass(frozen=True)
class ScriptCall:
    """One call of a script with its KEYS and ARGV, built by a typed method and run by whoever holds the client."""

    script: Script
    keys: list[str]
    args: list[ScriptArg]

    def __call__(self, client: Any = None) -> Any:
        """Run the call now (on ``client``, a pipeline for instance, if given; else on the script's own client)."""
        return self.script(keys=self.keys, args=self.args, client=client)


class SingleScriptPipeline:
    """One Redis: redis-py's own pipeline, which loads missing scripts before executing. Never a transaction."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.pipe: Any = client.pipeline(transaction=False)

    def add(self, call: ScriptCall) -> None:
        call(self.pipe)

    def execute(self) -> list[Any]:
        """Every reply, in order; the first error is raised."""
        replies: list[Any] = self.pipe.execute()
        return replies


class ClusterScriptPipeline:
    """A non-transactional cluster pipeline (``pipe`` for plain commands) that also carries script calls.

    redis-py's cluster pipeline refuses ``Script`` objects (it blocks ``EVALSHA``
    by name) and has no ``SCRIPT EXISTS`` step before executing, so a master that
    never saw a script (a replica promoted by a failover, a restarted master)
    answers ``NOSCRIPT``. The raw ``EVALSHA`` is queued here (the cluster
    pipeline still checks that a call's keys share one slot and sends it to that
    slot's master), and a call that came back ``NOSCRIPT`` runs again through the
    cluster client, which loads the script on every master first (``SCRIPT LOAD``
    goes to all of them). A ``NOSCRIPT`` call ran nothing, so running it again is
    safe; the first batch after a start or a failover pays one extra round trip
    per script and master.

    To find the keys of an ``EVALSHA``, redis-py's cluster pipeline asks the
    client's default node (``COMMAND GETKEYS``) and, unlike for a command's own
    target, never moves that default off a node that is gone. If the default
    node was the master a failover removed, every later batch would fail to
    connect to it, forever. :meth:`execute` therefore moves the default to
    another master when a batch cannot connect, before the error goes on to the
    caller's retry.

    The pipeline is never a transaction: every caller's scripts are idempotent or
    compare-and-set, and their keys are those of one session or one source.
    """

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.pipe: Any = client.pipeline(transaction=False)
        self._calls: dict[int, ScriptCall] = {}  # position -> the call

    def add(self, call: ScriptCall) -> None:
        self._calls[len(self.pipe)] = call
        self.pipe.execute_command("EVALSHA", call.script.sha, len(call.keys), *call.keys, *call.args)

    def execute(self) -> list[Any]:
        """Every reply, in order; the first error is raised (after the ``NOSCRIPT`` calls ran again)."""
        calls, self._calls = self._calls, {}
        try:
            replies: list[Any] = self.pipe.execute(raise_on_error=False)
        except (redis.ConnectionError, redis.TimeoutError):
            cast(redis.RedisCluster, self.client).replace_default_node()  # perhaps the node that is gone; the caller retries
            raise
        for position, call in calls.items():
            if isinstance(replies[position], redis.exceptions.NoScriptError):
                replies[position] = call()
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return replies


ScriptPipeline = SingleScriptPipeline | ClusterScriptPipeline


def script_pipeline(client: redis.Redis) -> ScriptPipeline:
    """The script pipeline that suits ``client``: :class:`ClusterScriptPipeline` for a cluster client."""
    return ClusterScriptPipeline(client) if isinstance(client, redis.RedisCluster) else SingleScriptPipeline(client)
