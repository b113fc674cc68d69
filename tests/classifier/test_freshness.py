"""Live sources stay fresh under a classifier far too slow for them; files still get every face.

The classifier is the real worker on the test's Redis with a model that
sleeps (a deliberately slow model, not a mock of anything Redis does); ingest
and the aggregator are real processes. Three cameras (the demo clip read as
live at 10 fps, about 20 faces/s each) and a file share one classifier that
manages about 20 faces/s.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis
from prometheus_client import CollectorRegistry

from emostream.classifier.worker import ClassifierWorker
from emostream.config import Config
from emostream.streams.events import decode_event
from emostream.streams.keys import Keys
from emostream.streams.lifecycle import SessionEnd, decode_lifecycle
from emostream.streams.records import decode_summary
from tests.classifier.procs import Procs, metric, scrape
from tests.classifier.slow_replica import SleepyRuntime
from tests.conftest import free_port

BOUND_MS = 800.0
CAMERAS = ("cam1", "cam2", "cam3")
FILE = "clip"
# Per forward pass of up to 4 faces; the default card asks for flip TTA, two passes a batch:
# 0.2 s a batch, about 20 faces/s, for about 60 offered.
SLEEP_S = 0.1


@pytest.fixture
def slow_classifier(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    started: list[tuple[ClassifierWorker, threading.Thread]] = []

    def start(config: Config) -> ClassifierWorker:
        batch_max = config.classifier.batch_max
        monkeypatch.setattr("emostream.classifier.worker.load_runtime", lambda card, *_a, **_k: SleepyRuntime(card, batch_max, SLEEP_S))
        worker = ClassifierWorker(config, registry=CollectorRegistry(), http_port=-1, consumer="sleepy")
        thread = threading.Thread(target=worker.run, name="sleepy-classifier", daemon=True)
        thread.start()
        started.append((worker, thread))
        return worker

    yield start
    for worker, thread in started:
        worker.stop.set()
        thread.join(30)


def age_drops(samples: dict[Any, float], source: str) -> float:
    return metric(samples, "emostream_ingest_frames_dropped_total", source=source, reason="age")


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_cameras_stay_within_the_bound_under_overload_and_a_file_still_gets_every_face(
    make_config: Any, procs: Procs, rclient: redis.Redis, demo_clip: Path, slow_classifier: Any
) -> None:
    # Given three live cameras and a file, one classifier far too slow for them, and an 800 ms freshness bound,
    ingest_port = free_port()
    config = make_config(
        sources=[{"id": c, "url": str(demo_clip), "live": True, "realtime": True, "fps": 10} for c in CAMERAS]
        + [{"id": FILE, "url": str(demo_clip), "every_nth": 6}],
        ingest={"max_queue_age_ms": BOUND_MS, "exit_at_end": False},
        classifier={"batch_max": 4, "batch_wait_ms": 5},
        aggregator={"end_grace_s": 120},
        http={"ingest_port": ingest_port, "aggregator_port": free_port()},
    )
    keys = Keys(config.redis.prefix)
    procs.start("aggregator", config, "aggregate")
    classifier = slow_classifier(config)
    ingest = procs.start("ingest", config, "ingest")

    # when they run for a while,
    def events(source: str) -> list[dict[str, Any]]:
        return [decode_event(fields).to_dict() for _, fields in rclient.xrange(keys.events(source))]

    procs.wait_for(lambda: all(rclient.xlen(keys.events(c)) >= 3 for c in CAMERAS), 180, "every camera has events")
    first = scrape(ingest_port)
    procs.wait_for(lambda: all(age_drops(scrape(ingest_port), c) > age_drops(first, c) + 5 for c in CAMERAS), 60, "drops rise for every camera")

    def file_ended() -> bool:
        ends = [decode_lifecycle(f) for _, f in rclient.xrange(keys.lifecycle)]
        return any(isinstance(m, SessionEnd) and m.source == FILE for m in ends)

    procs.wait_for(file_ended, 180, "the file is read to its end")
    counts = scrape(ingest_port)
    procs.killed.add("ingest")  # stopped on purpose: its sessions end and are summarised
    ingest.send_signal(signal.SIGTERM)
    assert ingest.wait(60) == 0, procs.log("ingest")

    def summaries() -> dict[str, dict[str, Any]]:
        return {s["source"]: s for s in (decode_summary(f).to_dict() for _, f in rclient.xrange(keys.sessions))}

    procs.wait_for(lambda: len(summaries()) == len(CAMERAS) + 1, 120, "every session is summarised")
    done = summaries()

    # then every camera's published event is within the bound, every camera kept getting events,
    for camera in CAMERAS:
        published = events(camera)
        latencies = [e["latency_ms"]["capture_to_publish"] for e in published]
        assert latencies and max(latencies) <= BOUND_MS, f"{camera}: {len(latencies)} events, the slowest {max(latencies, default=0):.0f} ms"
        summary = done[camera]
        dropped_here = classifier.registry.get_sample_value("emostream_classifier_faces_dropped_total", {"source": camera, "reason": "age"})
        # and its summary adds up: every announced face is an event or a counted drop, and the frame drops are ingest's.
        assert summary["faces"] + summary["faces_dropped"] == summary["faces_expected"], summary
        assert summary["faces"] == len(published) and summary["faces_dropped"] == dropped_here, (summary, len(published), dropped_here)
        # (the metrics were read shortly before the stop: the session has those drops and maybe a few more)
        assert summary["frames"]["dropped_for_age"] >= age_drops(counts, camera) > 0, (summary["frames"], age_drops(counts, camera))
    # The file waited instead: nothing dropped, every face exactly one event.
    clip, clip_events = done[FILE], events(FILE)
    assert clip["frames"]["dropped"] == 0 and clip["faces_dropped"] == 0, clip
    assert clip["faces"] == clip["faces_expected"] == len(clip_events) == len({e["event_id"] for e in clip_events}) > 0, clip
    for camera in CAMERAS:
        stages = {k: np.median([e["latency_ms"][k] for e in events(camera)]) for k in ("decode_detect", "queue", "inference", "capture_to_publish")}
        summary = done[camera]
        print(camera, "events", summary["faces"], "faces dropped", summary["faces_dropped"], "frames", summary["frames"], "median ms", stages)


def test_one_batch_publishes_the_fresh_faces_announces_the_stale_one_and_acknowledges_all(
    make_config: Any, rclient: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given, on the faces queue, a live face captured 2 s ago, a fresh live face and a file's face a minute old,
    from emostream.infra.modelcard import load_card
    from emostream.streams.facejob import FaceJob
    from emostream.streams.lifecycle import FacesDropped
    from tests.helpers import face_job

    config = make_config(classifier={"batch_max": 4})
    card = load_card(None)
    monkeypatch.setattr("emostream.classifier.worker.load_runtime", lambda c, *_a, **_k: SleepyRuntime(c, 4, 0.0))
    worker = ClassifierWorker(config, registry=CollectorRegistry(), http_port=-1, consumer="c1")
    keys = worker.keys
    now = time.time()
    crop = np.zeros(card.input_shape, np.uint8)
    jobs: list[FaceJob] = [
        face_job(source="cam", seq=0, captured_ts=now - 2.0, max_age_ms=BOUND_MS, crop=crop),
        face_job(source="cam", seq=1, captured_ts=now, max_age_ms=BOUND_MS, crop=crop),
        face_job(source="clip", session="clip-s1", seq=0, captured_ts=now - 60.0, crop=crop),
    ]
    for job in jobs:
        rclient.xadd(keys.faces, job.encode())  # type: ignore[arg-type]
    # when a classifier takes them as one batch,
    entries = worker.read(10, None)
    assert worker.process(entries) == 2
    # then the two others are events, the stale one is announced as dropped (never an event), and nothing stays queued.
    assert rclient.xlen(keys.events("cam")) == 1 and rclient.xlen(keys.events("clip")) == 1
    [dropped] = [m for m in (decode_lifecycle(f) for _, f in rclient.xrange(keys.lifecycle)) if isinstance(m, FacesDropped)]
    assert dropped == FacesDropped("cam", jobs[0].session, "age", (jobs[0].event_id,)), dropped
    assert rclient.xlen(keys.faces) == 0 and rclient.xpending(keys.faces, "classifiers")["pending"] == 0
    assert worker.registry.get_sample_value("emostream_classifier_faces_dropped_total", {"source": "cam", "reason": "age"}) == 1.0
    assert worker.registry.get_sample_value("emostream_classifier_faces_dropped_total", {"source": "clip", "reason": "age"}) == 0.0
