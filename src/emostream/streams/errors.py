"""Errors of the Redis transport that a worker's start-up reports in one line."""

from __future__ import annotations


class RedisUnavailable(RuntimeError):  # noqa: N818 (reads as a state, like TimeoutError)
    """Redis could not be reached, or refused us, at start-up."""


class RedisUnreachable(RedisUnavailable):
    """No answer from Redis (refused, timed out, loading): it may be starting, so waiting can help."""


class RedisPermissionDenied(RedisUnavailable):
    """The Redis ACL user may not run a command the worker needs, or not on these keys."""


ACL_HINT = "grant the ACL user the commands and key pattern listed in docs/deploy.md (Redis ACL)"
