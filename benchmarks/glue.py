"""Classifier glue: one replica's own work around the model, measured with a null model (issue #13).

A GPU classifies hundreds of thousands of faces a second; a replica is only as
fast as what it does around the model: read face jobs from Redis, decode them,
build the events, publish them and acknowledge the jobs. This section measures
that work alone. A private Redis is filled with face jobs of the default
model's crop size from a few sources, then one :class:`ClassifierWorker`
(the real one, in this process, serving with :class:`NullRuntime`) drains the
queue; faces/s is the number of faces over the time from its start until every
face has its event. The events are then counted by id: every face exactly once.

Run on its own, with a profile of the replica's threads if wanted::

    python -m benchmarks.glue --batch 256 --faces 40000 --repeat 3 [--profile glue.prof]

With ``--cluster`` the Redis is a local 3-master Redis Cluster
(``tests/support/cluster.py``, so run from the repository root) and the
queue six shards (``redis.faces_shards``, two per master) fed by twelve
sources: the same replica
then reads the shards in one pipeline per read and commits with
``ClusterCommit`` (a guarded publish per source, then the acknowledgements).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import redis
from prometheus_client import CollectorRegistry

from benchmarks.harness import Cluster, wait_until
from benchmarks.markdown import num, table, verdict
from emostream.classifier.runtime import Runtime
from emostream.classifier.worker import ClassifierWorker
from emostream.config import parse_config
from emostream.infra.modelcard import ModelCard, load_card
from emostream.streams.facejob import FaceJob
from emostream.streams.keys import Keys
from tests.support.cluster import RedisClusterServer

SHARDS = 6  # with --cluster: two per master
CLUSTER_SOURCES = 12  # with --cluster: enough for every shard to carry some
TARGET_FACES_S = 25_000  # issue 13: glue per replica on the 2-core bench machine
BATCHES = (256, 1024, 4096)
SOURCES = 4


class NullRuntime(Runtime):
    """A model that does almost nothing: fixed, valid probabilities for any batch."""

    format = "null"

    def __init__(self, card: ModelCard, batch_max: int) -> None:
        super().__init__(card, batch_max)
        rng = np.random.default_rng(13)
        self._probs = rng.dirichlet(np.ones(len(card.classes)), size=self.buckets[-1]).astype(np.float32)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        return self._probs[: len(batch)]


@dataclass(frozen=True)
class Result:
    batch: int
    faces: int
    seconds: float
    load: float  # 1-minute load average when the run ended

    @property
    def faces_s(self) -> float:
        return self.faces / self.seconds


def fill(client: redis.Redis, shard: Callable[[str], str], card: ModelCard, faces: int, sources: int = SOURCES) -> None:
    """``faces`` jobs on each source's ``shard``, round-robin over ``sources`` sources, two faces a frame."""
    crop = np.random.default_rng(0).integers(0, 256, card.input_shape, dtype=np.uint8)
    now = time.time()
    pipe = client.pipeline(transaction=False)
    for n in range(faces):
        source, rest = n % sources, n // sources
        seq, track = divmod(rest, 2)
        job = FaceJob(
            source=f"cam{source}", session=f"cam{source}-s1", seq=seq, pts=seq / 10, offset=seq / 10, interval=0.1,
            captured_ts=now, width=1280, height=720, track=track + 1, box=(100 * track, 50, 96, 96), detector="mediapipe",
            score=0.93, decode_detect_ms=4.2, crop=crop,
        )
        pipe.xadd(shard(job.source), job.encode())  # type: ignore[arg-type]
        if len(pipe) >= 2000:
            pipe.execute()
    pipe.execute()


def event_ids(client: redis.Redis, keys: Keys, sources: int = SOURCES) -> list[str]:
    ids: list[str] = []
    for source in range(sources):
        entries: Any = client.xrange(keys.events(f"cam{source}"))
        ids += [json.loads(fields[b"data"])["event_id"] for _, fields in entries]
    return ids


@contextmanager
def private_redis(workdir: Path, cluster: bool) -> Iterator[tuple[str, redis.Redis]]:
    """A private Redis (or a 3-master Redis Cluster): its URL and a client."""
    if not cluster:
        single = Cluster(workdir)
        try:
            yield single.url, single.start_redis()
        finally:
            single.close()
        return
    server = RedisClusterServer(masters=3).start()
    try:
        client: Any = redis.RedisCluster.from_url(server.url)
        yield server.url, client
    finally:
        server.stop()


def measure(
    batch: int, faces: int, workdir: Path, profile: Path | None = None, cluster: bool = False,
    make_runtime: Callable[[ModelCard, int], Runtime] = NullRuntime,
) -> Result:
    """Fill a private Redis with ``faces`` jobs and time one replica draining it (``make_runtime``: the model, null by default)."""
    with private_redis(workdir, cluster) as (url, client):
        shards, sources = (SHARDS, CLUSTER_SOURCES) if cluster else (1, SOURCES)
        config = parse_config(
            {
                "redis": {"url": url, "prefix": "glue", "events_maxlen": max(faces, 100), "cluster": cluster, "faces_shards": shards},
                "classifier": {"batch_max": batch, "batch_wait_ms": 5},
            },
            "glue",
        )
        keys = Keys("glue")
        card = load_card(config.classifier.model or None)
        worker = ClassifierWorker(config, CollectorRegistry(), http_port=-1, consumer="glue", runtime=make_runtime(card, batch))
        fill(client, lambda source: keys.face_shard(source, shards), card, faces, sources)
        profilers: list[cProfile.Profile] = []

        def profiled(*_: object) -> None:
            """Started as each of the replica's threads starts: one profiler per thread (cProfile follows one)."""
            sys.setprofile(None)
            profilers.append(cProfile.Profile())
            profilers[-1].enable()

        if profile is not None:
            threading.setprofile(profiled)
        thread = threading.Thread(target=worker.serve, name="glue-replica")
        began = time.perf_counter()
        thread.start()
        wait_until(lambda: worker.classified >= faces, 600, f"the replica classified {faces} faces", interval=0.01)
        seconds = time.perf_counter() - began
        worker.stop.set()
        thread.join(60)
        if profile is not None:
            threading.setprofile(None)
            stats = pstats.Stats(*profilers)
            stats.dump_stats(profile)
        ids = event_ids(client, keys, sources)
        if len(ids) != faces or len(set(ids)) != faces:
            raise RuntimeError(f"{faces} faces gave {len(ids)} events with {len(set(ids))} distinct ids")
        return Result(batch, faces, seconds, os.getloadavg()[0])


def best_of(batch: int, faces: int, repeat: int, profile: Path | None = None, cluster: bool = False) -> Result:
    results = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="emostream-glue-") as folder:
            results.append(measure(batch, faces, Path(folder), profile, cluster))
    return max(results, key=lambda r: r.faces_s)


def run(quick: bool) -> str:
    """The benchmark-page section: best of a few drains per batch size."""
    faces, repeat = (20_000, 2) if quick else (60_000, 3)
    # At least 30 batches a drain: starting and emptying the stages would otherwise weigh on large batches.
    results = [best_of(batch, max(faces, 30 * batch), repeat) for batch in BATCHES]
    best = max(r.faces_s for r in results)
    rows = [(r.batch, num(r.faces), num(r.faces_s), f"{r.load:.2f}") for r in results]
    return "\n".join(
        [
            "## Classifier glue (null model)",
            "",
            "One replica drains a queue of face jobs through a model that does almost nothing: what is measured is "
            "reading, decoding, building and publishing events and acknowledging (best of "
            f"{repeat} drains of at least {faces:,} faces and 30 batches, from {SOURCES} sources; `python -m benchmarks.glue`).",
            "",
            table(["batch_max", "faces", "faces/s", "load at the end"], rows),
            "",
            f"Target (issue 13): glue ≥ {TARGET_FACES_S:,} faces/s per replica: {verdict(best >= TARGET_FACES_S)} ({num(best)}).",
        ]
    ) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.glue", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, action="append", help=f"batch_max (repeatable; default {', '.join(map(str, BATCHES))})")
    parser.add_argument("--faces", type=int, default=40_000, help="face jobs per drain")
    parser.add_argument("--repeat", type=int, default=3, help="drains per batch size; the best is reported")
    parser.add_argument("--profile", type=Path, help="write a cProfile of the replica (last drain) to this file")
    parser.add_argument("--cluster", action="store_true", help=f"on a local 3-master Redis Cluster, the queue in {SHARDS} shards")
    args = parser.parse_args(argv)
    where = f"3-master cluster, {SHARDS} shards" if args.cluster else "one Redis"
    for batch in args.batch or BATCHES:
        result = best_of(batch, args.faces, args.repeat, args.profile, args.cluster)
        print(f"{where}, batch_max {batch}: {result.faces_s:,.0f} faces/s ({result.faces:,} faces in {result.seconds:.2f} s), load {result.load:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
