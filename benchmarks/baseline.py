"""The per-face approach most facial-emotion projects take, measured beside ours on the same clip.

The usual script is one loop: read a frame, detect faces, and for each face
call ``model.predict(face[None])``. Here it gets the same detector, crops and
model as emostream (MediaPipe BlazeFace, the card's crop, mini-Xception), so
the comparison isolates how the model is called and how the work is split:

- classification only: the clip's real face crops through ``model.predict``
  per face, through a direct per-face ``model(face)`` call, and through
  emostream's runtime in batches (one call per frame, and batches of 32);
- the whole loop: decode, detect, classify the full clip as fast as possible,
  the single-process loop against emostream's processes (ingest and one
  classifier on a private Redis; events published and acknowledged).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.harness import Cluster, free_port, healthy, stream_entries, wait_until
from benchmarks.markdown import num, table
from benchmarks.procstat import CpuMeter, cpu_seconds
from emostream.config import DetectorConfig
from emostream.infra.modelcard import ModelCard, load_card
from emostream.run.pipeline import demo_clip

MODEL = "mini-xception"


@dataclass(frozen=True)
class StageRate:
    name: str
    faces: int
    seconds: float

    @property
    def faces_s(self) -> float:
        return self.faces / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class LoopRate:
    name: str
    frames: int
    faces: int
    seconds: float
    cores: float | None

    @property
    def faces_s(self) -> float:
        return self.faces / self.seconds if self.seconds else 0.0


def clip_frames(clip: Path) -> list[np.ndarray]:
    import av

    with av.open(str(clip)) as container:
        return [frame.to_ndarray(format="bgr24") for frame in container.decode(container.streams.video[0])]


def clip_crops(frames: list[np.ndarray], card: ModelCard) -> list[list[np.ndarray]]:
    """The face crops of each frame, cut exactly as ingest cuts them."""
    from emostream.detector import make_detector
    from emostream.detector.crop import crop_detection

    cfg = DetectorConfig.model_validate({})
    with make_detector(cfg) as detector:
        return [
            [crop_detection(frame, d, card, cfg) for d in detector.detect(frame) if min(d.w, d.h) >= cfg.min_face_px]
            for frame in frames
        ]


def _timed(name: str, faces: int, work: Any) -> StageRate:
    began = time.perf_counter()
    work()
    return StageRate(name, faces, time.perf_counter() - began)


def classification_rates(card: ModelCard, per_frame: list[list[np.ndarray]], per_face_limit: int) -> list[StageRate]:
    """Faces/s of the classification step alone, four ways, on the clip's crops."""
    import keras

    from emostream.classifier.keras_dtype import single_io
    from emostream.classifier.runtime import load_runtime

    crops = [crop for frame in per_frame for crop in frame]
    model = single_io(keras.models.load_model(card.path("keras"), compile=False))
    sample = crops[:per_face_limit]

    def face_input(crop: np.ndarray) -> np.ndarray:
        return (crop.astype(np.float32) * card.scale + card.offset)[None]

    model.predict(face_input(sample[0]), verbose=0)  # first-call set-up is not counted
    model(face_input(sample[0]), training=False)
    rates = [
        _timed("per face: `model.predict(face[None])`", len(sample), lambda: [model.predict(face_input(c), verbose=0) for c in sample]),
        _timed("per face: `model(face[None])`", len(sample), lambda: [model(face_input(c), training=False) for c in sample]),
    ]
    stacked = np.stack(crops)
    frames_with_faces = [np.stack(frame) for frame in per_frame if frame]
    for fmt in ("keras", "tflite"):
        runtime = load_runtime(card, fmt, batch_max=32)
        per_call = _timed(
            f"emostream runtime ({fmt}), one call per frame", len(crops), lambda r=runtime: [r.predict(f) for f in frames_with_faces]
        )
        rates += [per_call, _timed(f"emostream runtime ({fmt}), batches of 32", len(crops), lambda r=runtime: r.predict(stacked))]
        runtime.close()
    return rates


def per_face_loop(card: ModelCard, frames: list[np.ndarray]) -> LoopRate:
    """The typical script: one process, per frame detect, per face ``model.predict``."""
    import os

    import keras

    from emostream.classifier.keras_dtype import single_io
    from emostream.detector import make_detector
    from emostream.detector.crop import crop_detection

    cfg = DetectorConfig.model_validate({})
    model = single_io(keras.models.load_model(card.path("keras"), compile=False))
    model.predict(np.zeros((1, *card.input_shape), np.float32), verbose=0)
    faces = 0
    with make_detector(cfg) as detector:
        cpu_before, began = cpu_seconds(os.getpid()), time.perf_counter()
        for frame in frames:  # decoded beforehand: both sides decode the same H.264, it is not what differs
            for det in detector.detect(frame):
                if min(det.w, det.h) < cfg.min_face_px:
                    continue
                crop = crop_detection(frame, det, card, cfg)
                model.predict((crop.astype(np.float32) * card.scale + card.offset)[None], verbose=0)
                faces += 1
        seconds = time.perf_counter() - began
        cpu_after = cpu_seconds(os.getpid())
    cores = (cpu_after - cpu_before) / seconds if cpu_before is not None and cpu_after is not None else None
    return LoopRate("per-face loop (one process: detect, then `model.predict` per face)", len(frames), faces, seconds, cores)


def pipeline_run(clip: Path, workdir: Path) -> LoopRate:
    """emostream's processes on the same clip as fast as they go (a file source: nothing dropped)."""
    from emostream.streams.events import decode_event
    from emostream.streams.keys import Keys
    from emostream.streams.lifecycle import SessionEnd, decode_lifecycle

    cluster = Cluster(workdir)
    try:
        client = cluster.start_redis()
        port = free_port()
        base: dict[str, Any] = {
            "redis": {"url": cluster.url, "prefix": "base"},
            "http": {"ingest_port": 0, "classifier_port": port, "aggregator_port": 0},
            "classifier": {"model": MODEL},  # the per-face loop's model: only the way of calling it differs
        }
        cluster.spawn("classifier", cluster.config_file("classifier", base), "classify", "--consumer", "bench")
        wait_until(lambda: healthy(port) or cluster.procs["classifier"].poll() is not None, 180, "the classifier is up")
        cluster.check_running("classifier")
        ingest_file = cluster.config_file("ingest", {**base, "sources": [{"id": "clip", "url": str(clip)}]})
        ingest = cluster.spawn("ingest", ingest_file, "ingest")
        keys = Keys("base")
        wait_until(lambda: client.xlen(keys.lifecycle) > 0 or ingest.poll() is not None, 120, "the source starts")
        pids = {"ingest": ingest.pid, "classifier": cluster.procs["classifier"].pid}
        if cluster.redis_proc is not None:
            pids["redis"] = cluster.redis_proc.pid
        meter = CpuMeter(pids).start()

        def done() -> bool:
            meter.sample()
            ends = [m for m in (decode_lifecycle(f) for _, f in stream_entries(client, keys.lifecycle)) if isinstance(m, SessionEnd)]
            return bool(ends) and client.xlen(keys.events("clip")) >= ends[0].faces

        wait_until(done, 300, "every face of the clip has its event", interval=0.05)
        meter.stop()
        events = [decode_event(f).to_dict() for _, f in stream_entries(client, keys.events("clip"))]
        end = next(m for m in (decode_lifecycle(f) for _, f in stream_entries(client, keys.lifecycle)) if isinstance(m, SessionEnd))
    finally:
        cluster.close()
    first = min(_ts(e["frame"]["captured_at"]) - e["latency_ms"]["decode_detect"] / 1000.0 for e in events)
    last = max(_ts(e["published_at"]) for e in events)
    cores = sum(c for c in meter.cores.values() if c is not None)
    name = "emostream processes (ingest + classifier + Redis; publish and acknowledge included)"
    return LoopRate(name, end.frames_analysed, len(events), last - first, cores)


def _ratio(value: float, reference: float) -> str:
    return f"{value / reference:.1f}×" if reference else "—"


def _ts(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def render(stage: list[StageRate], loops: list[LoopRate], per_face_limit: int) -> str:
    reference = stage[0].faces_s
    stage_rows = [[s.name, s.faces, num(s.faces_s), _ratio(s.faces_s, reference)] for s in stage]
    lines = [
        "## Against the per-face approach",
        "",
        f"The demo clip (180 frames, 15 fps, two faces most of the time), its faces detected with the same detector and cut "
        f"with the same crop as ingest, classified on both sides by {MODEL}, the small third-party model such scripts typically load.",
        "",
        f"Classification alone (the per-face rows time the first {per_face_limit} crops, after one untimed warm-up call; "
        "the runtime rows every crop of the clip):",
        "",
        table(["how the model is called", "faces", "faces/s", "vs `model.predict` per face"], stage_rows),
        "",
    ]
    if loops:
        base = loops[0].faces_s
        loop_rows = [
            [lp.name, lp.frames, lp.faces, num(lp.seconds, 1), num(lp.faces_s), num(lp.cores, 2), _ratio(lp.faces_s, base)]
            for lp in loops
        ]
        lines += [
            "The whole loop on the clip, as fast as it goes (decode excluded for the single loop, which gets decoded "
            "frames; the processes decode themselves):",
            "",
            table(["", "frames", "faces", "seconds", "faces/s", "CPU cores used", "vs per-face loop"], loop_rows),
            "",
            "Beside the throughput, the processes bring what one loop cannot: sources and classifiers on different "
            "hosts, replicas, bounded queues, and results as events other programs read.",
            "",
        ]
    return "\n".join(lines)


def run(quick: bool) -> str:
    card = load_card(MODEL)
    frames = clip_frames(demo_clip())
    per_frame = clip_crops(frames, card)
    per_face_limit = 60 if quick else 1000
    stage = classification_rates(card, per_frame, per_face_limit)
    workdir = Path(tempfile.mkdtemp(prefix="emostream-bench-baseline-"))
    loops = [per_face_loop(card, frames)]
    try:
        loops.append(pipeline_run(demo_clip(), workdir))
    except Exception as exc:
        return render(stage, loops, per_face_limit) + f"\nThe emostream run failed: {exc} (logs in `{workdir}`).\n"
    shutil.rmtree(workdir, ignore_errors=True)
    return render(stage, loops, per_face_limit)
