"""Which faces shards a replica reads, and in which order, so no shard waits."""

from __future__ import annotations


def served_shards(shards: list[str], chosen: list[int]) -> list[str]:
    """The shards a replica serves: ``classifier.shards`` (indices, checked against ``redis.faces_shards`` by the config), else all."""
    return [shards[i] for i in sorted(set(chosen))] if chosen else shards


def read_order(streams: list[str], turn: int, count: int) -> tuple[list[str], int]:
    """The streams to read this time, starting with the ``turn``-th, and how many entries from each.

    XREADGROUP's COUNT is per stream: asking every shard for ``count`` could
    return ``count`` times the number of shards. Each gets an equal share
    instead, and when there are more shards than room, the first ``count`` of
    this turn's order get one each; the order turns every call, so no shard waits.
    """
    turn %= len(streams)
    order = streams[turn:] + streams[:turn]
    if count < len(order):
        order = order[: max(count, 1)]
    return order, max(1, count // len(order))
