"""Aggregator events/s, with 1 and N processes on one private Redis ("Roles alone").

The events are written before any aggregator reads them: every source's
session start, then ``events`` emotion events spread over the sources (two
tracks per session, 10 fps), so the figure is the aggregator's own speed,
not a producer's. The sources are registered only once every aggregator is up
and has announced itself, so they divide the sources from the start.

The rate is taken between 10 % and 90 % of the events counted (read from the
sessions' counters in Redis every 50 ms), leaving out start-up and the tail
where one process has finished and the other has not. Each process's own rate
is its counted events (its ``/healthz``) over the same window.

``--cluster`` runs them on a local Redis Cluster of three masters instead
(started like the tests', ``tests/support/cluster.py``, so run it from the
repository root); Redis CPU is then the three masters' together.

``python -m benchmarks.aggregator --profile`` instead runs one aggregator in
this process under cProfile and prints the top functions.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import redis

from benchmarks.harness import Cluster, free_port, healthy, wait_until
from benchmarks.markdown import num, table
from benchmarks.procstat import cpu_seconds
from emostream.infra.emotions import EMOTIONS
from emostream.streams.events import build_event, encode_event
from emostream.streams.facejob import FaceJob
from emostream.streams.keys import Keys, SessionPart
from emostream.streams.lifecycle import SessionStart, encode_lifecycle
from tests.support.cluster import RedisClusterServer

PREFIX = "bench-agg"
FPS = 10.0
Sample = tuple[float, int, list[int], list[float]]  # when, events counted, each process's count, CPU seconds (each, then Redis)


@dataclass(frozen=True)
class Result:
    processes: int
    events: int
    rate: float  # events/s of all processes together
    per_process: list[float]  # each one's events/s over the same window
    sources: list[int]  # sources each one leased
    cpu: list[float]  # CPU cores each aggregator used over the window
    redis_cpu: float  # CPU cores Redis used over the window (every master of a cluster together)


def session_of(source: str) -> str:
    return f"{source}-s1"


def prefill(client: redis.Redis, keys: Keys, sources: list[str], events: int) -> None:
    """Session starts and ``events`` events, round-robin over ``sources``; the sources are not registered yet."""
    crop = np.zeros((8, 8, 1), np.uint8)
    probs = np.full(len(EMOTIONS), 0.05, np.float32)
    now = time.time()
    for source in sources:
        client.xadd(keys.lifecycle, encode_lifecycle(SessionStart(source, session_of(source), now, f"{source}.mp4")))  # type: ignore[arg-type]
    per_source = -(-events // len(sources))
    pipe = client.pipeline(transaction=False)
    written = 0
    for i in range(per_source):
        for source in sources:
            if written == events:
                break
            seq, track = divmod(i, 2)
            job = FaceJob(
                source=source, session=session_of(source), seq=seq, pts=seq / FPS, offset=seq / FPS, interval=1 / FPS,
                captured_ts=now, width=640, height=360, track=track, box=(10, 20, 80, 80), detector="mediapipe", score=0.9,
                decode_detect_ms=5.0, crop=crop,
            )
            label = EMOTIONS[(seq // 50 + track) % len(EMOTIONS)]
            p = probs.copy()
            p[EMOTIONS.index(label)] = 0.7
            pipe.xadd(keys.events(source), encode_event(build_event(job, p, "bench", "1", 1.0, 2.0, now)))  # type: ignore[arg-type]
            written += 1
            if written % 2000 == 0:
                pipe.execute()
    pipe.execute()


def counted(client: redis.Redis, keys: Keys, sources: list[str]) -> int:
    pipe = client.pipeline(transaction=False)
    for source in sources:
        pipe.hget(keys.agg(session_of(source), SessionPart.STATE), "events")
    return sum(int(v or 0) for v in pipe.execute())


def health(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
        body: dict[str, Any] = json.loads(response.read())
    return body


def measure(workdir: Path, processes: int, n_sources: int, events: int, timeout_s: float = 600.0, on_cluster: bool = False) -> Result:
    workdir.mkdir(parents=True, exist_ok=True)
    cluster = Cluster(workdir)
    nodes = RedisClusterServer(masters=3).start() if on_cluster else None
    try:
        if nodes is not None:
            client, url = cast(redis.Redis, redis.RedisCluster.from_url(nodes.url)), nodes.url
            redis_pids = [n.proc.pid for n in nodes.nodes if n.proc is not None]
        else:
            client, url = cluster.start_redis(), cluster.url
            redis_pids = [cluster.redis_proc.pid if cluster.redis_proc else 0]
        keys = Keys(PREFIX)
        sources = [f"cam{i:02d}" for i in range(n_sources)]
        prefill(client, keys, sources, events)
        ports = [free_port() for _ in range(processes)]
        for n, port in enumerate(ports):
            config = cluster.config_file(
                f"agg{n}",
                {
                    "redis": {"url": url, "prefix": PREFIX, "cluster": on_cluster},
                    "http": {"ingest_port": 0, "classifier_port": 0, "aggregator_port": port},
                    "aggregator": {"summary_dir": str(workdir / "sessions")},
                },
            )
            cluster.spawn(f"agg{n}", config, "aggregate", "--consumer", f"agg{n}")
        names = [f"agg{n}" for n in range(processes)]
        def up() -> bool:
            cluster.check_running(*names)
            return all(healthy(p) for p in ports)

        wait_until(up, 120, "the aggregators are up")
        if processes > 1:
            wait_until(lambda: client.hlen(keys.aggregators) >= processes, 30, "every aggregator has announced itself")
        client.sadd(keys.sources, *sources)
        samples: list[Sample] = []
        pids = [cluster.procs[name].pid for name in names] + redis_pids
        deadline = time.monotonic() + timeout_s
        while True:
            total = counted(client, keys, sources)
            cpu = [cpu_seconds(pid) or 0.0 for pid in pids]
            samples.append((time.monotonic(), total, [int(health(p)["events"]) for p in ports], cpu))
            if total >= events:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{total} of {events} events counted after {timeout_s:.0f} s")
            cluster.check_running(*names)
            time.sleep(0.05)
        leased = [int(health(p).get("sources", 0)) for p in ports]
        return summarise(processes, events, samples, leased)
    finally:
        cluster.close()
        if nodes is not None:
            nodes.stop()


def summarise(processes: int, events: int, samples: list[Sample], leased: list[int]) -> Result:
    low = next(s for s in samples if s[1] >= events * 0.1)
    high = next(s for s in samples if s[1] >= events * 0.9)
    span = max(high[0] - low[0], 1e-6)
    per = [(b - a) / span for a, b in zip(low[2], high[2], strict=True)]
    cpu = [(b - a) / span for a, b in zip(low[3], high[3], strict=True)]
    return Result(processes, events, (high[1] - low[1]) / span, per, leased, cpu[:processes], sum(cpu[processes:]))


def best(workdir: Path, processes: int, n_sources: int, events: int, repeats: int, on_cluster: bool = False) -> Result:
    results = [measure(workdir / f"p{processes}-{r}", processes, n_sources, events, on_cluster=on_cluster) for r in range(repeats)]
    return max(results, key=lambda r: r.rate)


def run(quick: bool) -> str:
    events = 40_000 if quick else 200_000
    n_sources = 8
    repeats = 1 if quick else 3
    cores = os.cpu_count() or 1
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-agg-") as tmp:
        for processes in sorted({1, max(2, cores)}):
            r = best(Path(tmp), processes, n_sources, events, repeats)
            rows.append(
                [
                    str(r.processes), num(r.rate), " / ".join(num(x) for x in r.per_process), " / ".join(str(x) for x in r.sources),
                    " / ".join(num(c, 2) for c in r.cpu), num(r.redis_cpu, 2), num(r.rate / max(sum(r.cpu), 1e-6)),
                ]
            )
    head = ["aggregators", "events/s, all", "events/s, each", "sources leased, each", "CPU cores, each", "Redis CPU cores",
            "events/s per aggregator core"]
    return (
        "## Aggregator: events/s with 1 and N processes\n\n"
        f"{events:,} events of {n_sources} sources (one session each, two tracks, 10 fps) are written to a private Redis "
        f"before the aggregators start; 1 and N `emostream aggregate` processes (N = the {cores} cores, at least 2) divide "
        f"the sources by their leases and count them (best of {repeats}). Rates and CPU are taken between 10 % and 90 % "
        "of the events counted. On one machine the aggregators and Redis share the cores, so N processes on N cores "
        "cannot each keep a core; on a bigger machine each aggregator needs about one core and Redis the CPU shown per "
        "events/s.\n\n" + table(head, rows) + "\n"
    )


def profile(events: int) -> None:
    """One aggregator in this process, under cProfile, on prefilled events."""
    import cProfile
    import pstats

    from emostream.aggregator.worker import AggregatorWorker
    from emostream.config import parse_config

    with tempfile.TemporaryDirectory(prefix="bench-agg-") as tmp:
        cluster = Cluster(Path(tmp))
        try:
            client = cluster.start_redis()
            keys = Keys(PREFIX)
            sources = [f"cam{i:02d}" for i in range(8)]
            prefill(client, keys, sources, events)
            client.sadd(keys.sources, *sources)
            config = parse_config({"redis": {"url": cluster.url, "prefix": PREFIX}, "aggregator": {"summary_dir": tmp}}, "bench")
            worker = AggregatorWorker(config, http_port=-1, consumer="agg0")
            worker.resume()
            began = time.perf_counter()
            with cProfile.Profile() as prof:
                while counted(client, keys, sources) < events:
                    worker.step()
                worker.held.release()
            took = time.perf_counter() - began
            print(f"{events} events in {took:.2f} s: {events / took:,.0f} events/s (under cProfile)")
            pstats.Stats(prof).sort_stats("cumulative").print_stats(35)
        finally:
            cluster.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", action="store_true", help="profile one in-process aggregator instead")
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--processes", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--sources", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--cluster", action="store_true", help="on a local Redis Cluster of three masters")
    args = parser.parse_args()
    if args.profile:
        profile(args.events)
        return
    with tempfile.TemporaryDirectory(prefix="bench-agg-") as tmp:
        for processes in args.processes:
            r = best(Path(tmp), processes, args.sources, args.events, args.repeats, args.cluster)
            where = " on a 3-master cluster" if args.cluster else ""
            print(
                f"{processes} aggregator(s){where}: {r.rate:,.0f} events/s; each {[round(x) for x in r.per_process]}; sources {r.sources}; "
                f"CPU cores each {[round(c, 2) for c in r.cpu]}, Redis {r.redis_cpu:.2f}; load {os.getloadavg()[0]:.1f}"
            )


if __name__ == "__main__":
    main()
