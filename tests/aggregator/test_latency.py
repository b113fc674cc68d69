"""Batched histogram observations give exactly what one ``observe`` per value gives."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Histogram

from emostream.aggregator.latency import observe_many

BUCKETS = (0.01, 0.1, 1.0, 10.0)
VALUES = [0.0, 0.01, 0.0100001, 0.05, 0.1, 0.5, 1.0, 3.0, 10.0, 11.0, 250.0]


def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for m in registry.collect() for s in m.samples if not s.name.endswith("_created")}


def test_observe_many_matches_one_observe_per_value() -> None:
    one, many = CollectorRegistry(), CollectorRegistry()
    h_one = Histogram("x_seconds", "x", ["stage"], buckets=BUCKETS, registry=one)
    h_many = Histogram("x_seconds", "x", ["stage"], buckets=BUCKETS, registry=many)
    for value in VALUES:
        h_one.labels("a").observe(value)
    observe_many(h_many.labels("a"), VALUES)
    observe_many(h_many.labels("a"), [])
    assert samples(many) == samples(one), "bucket boundaries are inclusive upper bounds, as in observe()"
    assert samples(many)[("x_seconds_bucket", (("le", "0.01"), ("stage", "a")))] == 2
