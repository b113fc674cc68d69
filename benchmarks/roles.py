"""Roles alone: what one process of each role moves, each on a private Redis with nothing else running (issue #12).

Capacity planning (docs/deploy.md, "Scaling to many cameras") divides a
deployment's load by these per-unit figures, so each is measured with its
role alone, fed as fast as it takes work:

- **ingest**: one ``emostream ingest`` process with N file sources of the demo
  clip played as fast as they decode (not real time), detector and tracker
  included; faces/s is the faces it published over the time from its first
  session start to its last session end (both read from the lifecycle
  stream's entry ids, so start-up is not counted);
- **classifier**: one replica draining a full queue, with a null model (its
  glue: :mod:`benchmarks.glue`), on a single Redis and on a local 3-master
  Redis Cluster, and with the default model as served on this CPU;
- **aggregator**: events/s of 1 and 2 aggregator processes dividing the
  sources by their leases (:mod:`benchmarks.aggregator`), on a single Redis
  and on a local 3-master Redis Cluster.

Run on its own: ``python -m benchmarks --only roles``.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from benchmarks import aggregator, glue
from benchmarks.harness import Cluster, stream_entries, wait_until
from benchmarks.ingest import demo_clip
from benchmarks.markdown import num, table
from emostream.classifier.runtime import Runtime, load_runtime
from emostream.infra.modelcard import ModelCard
from emostream.streams.keys import Keys
from emostream.streams.lifecycle import SessionEnd, SessionStart, decode_lifecycle

PREFIX = "roles"


@dataclass(frozen=True)
class Row:
    role: str
    setup: str
    rate: float  # faces/s or events/s
    unit: str
    load: float


def _ms(entry_id: bytes) -> int:
    return int(entry_id.split(b"-")[0])


def ingest_alone(sources: int, workdir: Path) -> Row:
    """One ingest process with ``sources`` copies of the demo clip, as fast as they decode."""
    cluster = Cluster(workdir)
    client = cluster.start_redis()
    keys = Keys(PREFIX)
    ids = [f"clip{i}" for i in range(1, sources + 1)]
    try:
        config = cluster.config_file(
            "ingest",
            {
                "redis": {"url": cluster.url, "prefix": PREFIX, "faces_maxlen": 1_000_000},
                "sources": [{"id": i, "url": str(demo_clip()), "live": False, "realtime": False} for i in ids],
            },
        )
        proc = cluster.spawn("ingest", config, "ingest")

        def ends() -> list[tuple[bytes, SessionEnd]]:
            messages = [(eid, decode_lifecycle(fields)) for eid, fields in stream_entries(client, keys.lifecycle)]
            return [(eid, m) for eid, m in messages if isinstance(m, SessionEnd)]

        wait_until(lambda: len(ends()) >= sources or proc.poll() is not None, 600, f"{sources} clip(s) ingested")
        cluster.check_running("ingest")
        starts = [eid for eid, fields in stream_entries(client, keys.lifecycle) if isinstance(decode_lifecycle(fields), SessionStart)]
        finished = ends()
        faces = sum(end.faces for _, end in finished)
        seconds = (max(_ms(eid) for eid, _ in finished) - min(_ms(eid) for eid in starts)) / 1000.0
        return Row("ingest", f"1 process, {sources} file source(s), mediapipe", faces / seconds, "faces/s", _load())
    finally:
        cluster.close()


def _load() -> float:
    return os.getloadavg()[0]


def _default_model(card: ModelCard, batch: int) -> Runtime:
    return load_runtime(card, "auto", batch)


def classifier_alone(batch: int, faces: int, repeat: int, null: bool, cluster: bool = False) -> Row:
    make = glue.NullRuntime if null else _default_model
    results = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="emostream-roles-") as folder:
            results.append(glue.measure(batch, faces, Path(folder), cluster=cluster, make_runtime=make))
    best = max(results, key=lambda r: r.faces_s)
    what = "null model (glue)" if null else "default model as served on this CPU"
    where = f", 3-master local cluster, {glue.SHARDS} shards" if cluster else ""
    return Row("classifier", f"1 replica, {what}, batch_max {batch}{where}", best.faces_s, "faces/s", best.load)


def aggregator_rows(quick: bool) -> list[Row]:
    """1 and 2 aggregator processes dividing 8 sources by their leases (:mod:`benchmarks.aggregator`)."""
    events, repeats = (40_000, 1) if quick else (100_000, 2)
    rows = []
    with tempfile.TemporaryDirectory(prefix="emostream-roles-") as folder:
        for on_cluster in (False, True):
            for processes in (1, 2):
                r = aggregator.best(Path(folder) / f"cluster-{on_cluster}", processes, 8, events, repeats, on_cluster=on_cluster)
                each = " / ".join(num(x) for x in r.per_process)
                where = ", 3-master local cluster" if on_cluster else ""
                rows.append(Row("aggregator", f"{processes} process(es) sharing 8 sources{where} (each: {each})", r.rate, "events/s", _load()))
    return rows


def run(quick: bool) -> str:
    workdir_rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="emostream-roles-") as folder:
        for sources in (1, 3) if not quick else (1,):
            workdir_rows.append(ingest_alone(sources, Path(folder) / f"ingest{sources}"))
    faces, repeat = (8_000, 1) if quick else (40_000, 2)
    rows = [
        *workdir_rows,
        classifier_alone(1024, max(faces, 30 * 1024), repeat, null=True),
        classifier_alone(1024, max(faces, 30 * 1024), repeat, null=True, cluster=True),
        classifier_alone(64, faces // 4, 1, null=False),
        *aggregator_rows(quick),
    ]
    return "\n".join(
        [
            "## Roles alone",
            "",
            "What one process of each role moves with nothing else running beside it, each on its own private Redis "
            "(`python -m benchmarks --only roles`). These are the per-unit figures of docs/deploy.md's "
            "capacity plan. Ingest is fed by the bundled demo clip (two faces a frame, 640x360) decoded as fast as it goes.",
            "",
            table(["role", "setup", "rate", "unit", "load at the end"], [(r.role, r.setup, num(r.rate), r.unit, f"{r.load:.2f}") for r in rows]),
        ]
    ) + "\n"
