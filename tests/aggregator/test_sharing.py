"""Three aggregator processes share six sources; one is SIGKILLed mid-session. On one Redis and on a Redis Cluster.

Real ``emostream aggregate`` processes, driven by events and lifecycle
messages published straight to Redis (as ingest and the classifiers would).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
import redis
import yaml
from prometheus_client.parser import text_string_to_metric_families

from emostream.streams.keys import AGGREGATOR_GROUP, Keys, SessionPart
from tests.aggregator.support import end, event, publish, start
from tests.conftest import free_port
from tests.helpers import wait_for

SOURCES = [f"cam{i}" for i in range(6)]
FRAMES = 30  # per phase; two tracks, so 60 events per source and phase
LEASE_S = 2.0
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@dataclass
class Backend:
    """Where the aggregators run: one Redis, or the three-master cluster."""

    url: str
    cluster: bool
    client: redis.Redis


@pytest.fixture(params=["redis", "cluster"])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    if request.param == "redis":
        yield Backend(request.getfixturevalue("redis_server").url, False, request.getfixturevalue("rclient"))
        return
    url = request.getfixturevalue("redis_cluster").url
    client = redis.RedisCluster.from_url(url)
    yield Backend(url, True, cast(redis.Redis, client))
    client.close()


class Aggregator:
    def __init__(self, name: str, backend: Backend, prefix: str, workdir: Path) -> None:
        self.name = name
        self.port = free_port()
        self.log = workdir / f"{name}.log"
        config = {
            "redis": {"url": backend.url, "prefix": prefix, "cluster": backend.cluster},
            "http": {"ingest_port": 0, "classifier_port": 0, "aggregator_port": self.port},
            "aggregator": {
                "summary_dir": str(workdir / "sessions"), "lease_s": LEASE_S, "reorder_ms": 1000, "claim_idle_ms": 5000, "end_grace_s": 30,
            },
        }
        path = workdir / f"{name}.yaml"
        path.write_text(yaml.safe_dump(config))
        env = {k: v for k, v in os.environ.items() if not k.startswith("EMOSTREAM_")}
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "emostream", "--config", str(path), "--log-level", "INFO", "aggregate", "--consumer", name],
                stdout=out, stderr=subprocess.STDOUT, env=env,
            )

    def get(self, path: str) -> bytes:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as response:
            body: bytes = response.read()
        return body

    def sources(self) -> int | None:
        """How many sources it leases; None while it does not answer."""
        try:
            return int(json.loads(self.get("/healthz"))["sources"])
        except OSError:
            return None

    def metrics(self) -> Samples:
        text = self.get("/metrics").decode()
        return {(s.name, tuple(sorted(s.labels.items()))): s.value for f in text_string_to_metric_families(text) for s in f.samples}


def total(samples: Samples, name: str) -> float:
    return sum(v for (n, _), v in samples.items() if n == name)


def publish_phase(rclient: redis.Redis, keys: Keys, phase: int) -> None:
    for source in SOURCES:
        session = f"{source}-s1"
        frames = range(phase * FRAMES, (phase + 1) * FRAMES)
        publish(rclient, keys, [event(session, seq, track, "happy" if track == 1 else "sad", source=source) for seq in frames for track in (1, 2)])


def counted(rclient: redis.Redis, keys: Keys) -> list[int]:
    return [int(rclient.hget(keys.agg(f"{s}-s1", SessionPart.STATE), "events") or 0) for s in SOURCES]


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_sources_divide_and_move_when_one_aggregator_is_killed(backend: Backend, prefix: str, tmp_path: Path) -> None:
    keys = Keys(prefix)
    rclient = backend.client
    for source in SOURCES:
        start(rclient, keys, f"{source}-s1", source=source)
    aggs = [Aggregator(f"agg{n}", backend, prefix, tmp_path) for n in range(3)]
    try:
        # Given three aggregators, which divide six sources evenly
        wait_for(lambda: [a.sources() for a in aggs] == [2, 2, 2], 60, "three aggregators should lease two sources each")
        # ... and count the first half of every session
        publish_phase(rclient, keys, 0)
        wait_for(lambda: counted(rclient, keys) == [2 * FRAMES] * len(SOURCES), 30, "the first half of every session is counted")
        victim, survivors = aggs[0], aggs[1:]
        before_kill = victim.metrics()
        # When one is SIGKILLed while it still holds its events for smoothing (unacknowledged)
        assert rclient.xpending(keys.events(_leased(rclient, keys, victim.name)[0]), AGGREGATOR_GROUP)["pending"] > 0
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait(10)
        killed = time.monotonic()
        # Then the two others take its sources within a lease and a round or two
        wait_for(lambda: sorted(a.sources() or 0 for a in survivors) == [3, 3], LEASE_S * 5, "the survivors should hold three each")
        took = time.monotonic() - killed
        assert took < LEASE_S * 4, f"its sources were taken after {took:.1f} s with aggregator.lease_s {LEASE_S}"
        # ... and the second half and the ends are counted and summarised
        publish_phase(rclient, keys, 1)
        for source in SOURCES:
            end(rclient, keys, f"{source}-s1", faces=4 * FRAMES, frames=2 * FRAMES, source=source)
        summaries = wait_for(lambda: _summaries(rclient, keys) if len(_summaries(rclient, keys)) == len(SOURCES) else None, 60,
                             "every session should be summarised")
        time.sleep(LEASE_S)  # a second summary, were there one, would come within a round
        # Every face was counted once, every session summarised once
        assert sorted(s["session"] for s in _summaries(rclient, keys)) == sorted(f"{s}-s1" for s in SOURCES), "one summary per session"
        assert {s["session"]: s["faces"] for s in summaries} == {f"{s}-s1": 4 * FRAMES for s in SOURCES}
        assert counted(rclient, keys) == [4 * FRAMES] * len(SOURCES)
        wait_for(lambda: all(rclient.xpending(keys.events(s), AGGREGATOR_GROUP)["pending"] == 0 for s in SOURCES), 10,
                 "every event should be acknowledged")
        # The counters summed over the aggregators (the dead one's last scrape included) equal the events
        after = [a.metrics() for a in survivors]
        events = total(before_kill, "emostream_aggregator_events_total") + sum(total(m, "emostream_aggregator_events_total") for m in after)
        assert events == 4 * FRAMES * len(SOURCES), f"summed events_total {events}"
        assert sum(total(m, "emostream_aggregator_claimed_total") for m in after) > 0, "the victim's pending entries were claimed"
        assert sum(total(m, "emostream_aggregator_sessions_ended_total") for m in after) == len(SOURCES)
        # Each source's share comes from one aggregator only
        shares = [{dict(labels)["source"] for (n, labels) in m if n == "emostream_aggregator_emotion_share_ratio"} for m in after]
        assert not shares[0] & shares[1] and shares[0] | shares[1] == set(SOURCES), f"share series per aggregator: {shares}"
        logs = "".join(a.log.read_text() for a in survivors)
        assert "from agg0, whose lease expired (it stopped answering)" in logs, "the take-over should be logged"
    finally:
        _stop(aggs)


def _stop(aggs: list[Aggregator]) -> None:
    """SIGTERM every aggregator still running, then wait for each (killed after 20 s)."""
    for a in aggs:
        if a.proc.poll() is None:
            a.proc.send_signal(signal.SIGTERM)
    for a in aggs:
        try:
            a.proc.wait(20)
        except subprocess.TimeoutExpired:
            a.proc.kill()


def _leased(rclient: redis.Redis, keys: Keys, member: str) -> list[str]:
    return [s for s in SOURCES if (rclient.get(keys.agg_lease(s)) or b"").decode().startswith(f"{member} ")]


def _summaries(rclient: redis.Redis, keys: Keys) -> list[dict[str, Any]]:
    return [json.loads(fields[b"data"]) for _, fields in rclient.xrange(keys.sessions)]


BURST = [f"burst{i}" for i in range(16)]


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_many_sessions_ending_at_once_do_not_cost_an_aggregator_its_sources(redis_server: Any, rclient: redis.Redis, prefix: str,
                                                                             tmp_path: Path) -> None:
    """The cause of the test above failing on a loaded machine: summarising sessions back to back (a chart each)
    kept an aggregator from its lease round past the lease, so the other took its sources as if it were dead,
    and gave them back afterwards without their rolling share."""
    keys = Keys(prefix)
    backend = Backend(redis_server.url, False, rclient)
    for source in BURST:
        start(rclient, keys, f"{source}-s1", source=source)
    aggs = [Aggregator(f"agg{n}", backend, prefix, tmp_path) for n in range(2)]
    try:
        half = len(BURST) // 2
        wait_for(lambda: [a.sources() for a in aggs] == [half, half], 60, "two aggregators should lease half the sources each")
        for source in BURST:  # a few tracks each, so that every summary draws a chart with several lines
            publish(rclient, keys, [event(f"{source}-s1", seq, track, "happy" if track % 2 else "sad", source=source)
                                    for seq in range(FRAMES) for track in range(4)])
        wait_for(lambda: all(int(rclient.hget(keys.agg(f"{s}-s1", "state"), "events") or 0) == 4 * FRAMES for s in BURST), 30,
                 "every event should be counted")
        for source in BURST:  # every session ends at once: each aggregator has eight summaries to write
            end(rclient, keys, f"{source}-s1", faces=4 * FRAMES, frames=FRAMES, source=source)
        wait_for(lambda: len(_summaries(rclient, keys)) == len(BURST), 90, "every session should be summarised")
        logs = "".join(a.log.read_text() for a in aggs)
        assert "dropped; its sources are taken" not in logs and "took over source" not in logs, \
            "an aggregator busy summarising was taken for dead:\n" + "\n".join(line for line in logs.splitlines() if "WARNING" in line)
    finally:
        _stop(aggs)
