"""The ingest worker against a real Redis: files analysed completely, live sources paced, bad sources isolated."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from emostream.infra.modelcard import load_card
from emostream.ingest.worker import IngestWorker
from tests.helpers import wait_for
from tests.support.ingest import ends, errors, faces, metric

LAVFI = "lavfi:testsrc=size=320x240:rate=25"


def test_a_file_is_analysed_completely_and_its_session_ends_at_eof(
    make_config: Any, run_worker: Callable[..., IngestWorker], rclient: redis.Redis, prefix: str, demo_clip: Path
) -> None:
    worker = run_worker(make_config(sources=[{"id": "demo", "url": str(demo_clip)}]))
    [end] = wait_for(lambda: ends(rclient, prefix, "demo"), 120, "the demo clip's session never ended")
    assert end.reason == "eof", end
    assert end.frames_analysed == 180 and end.frames_dropped == 0, f"a file analyses every frame: {end}"
    jobs = faces(rclient, prefix, "demo")
    assert len(jobs) == end.faces > 250, f"{end.faces} faces announced, {len(jobs)} published"
    card = load_card(None)
    assert all(job.crop.shape == card.input_shape for job in jobs), "crops must have the model card's input shape"
    assert metric(worker, "emostream_ingest_frames_total", source="demo", outcome="analysed") == 180


def test_the_litert_blazeface_backend_serves_ingest_and_names_itself_in_the_jobs(
    make_config: Any, run_worker: Callable[..., IngestWorker], rclient: redis.Redis, prefix: str, demo_clip: Path
) -> None:
    worker = run_worker(make_config(sources=[{"id": "demo", "url": str(demo_clip), "every_nth": 6}], detector={"backend": "blazeface", "interval": 1}))
    [end] = wait_for(lambda: ends(rclient, prefix, "demo"), 120, "the demo clip's session never ended")
    assert end.reason == "eof" and end.frames_analysed == 30, end
    jobs = faces(rclient, prefix, "demo")
    assert len(jobs) == end.faces >= 50, f"the demo shows about two faces a frame: {end.faces} announced, {len(jobs)} published"
    assert {job.detector for job in jobs} == {"blazeface"}, "each job names the detector that found it"
    assert metric(worker, "emostream_ingest_faces_total", source="demo", detector="blazeface", outcome="published") == end.faces


def test_every_nth_frame_of_a_file(
    make_config: Any, run_worker: Callable[..., IngestWorker], rclient: redis.Redis, prefix: str, demo_clip: Path
) -> None:
    run_worker(make_config(sources=[{"id": "demo", "url": str(demo_clip), "every_nth": 4}]))
    [end] = wait_for(lambda: ends(rclient, prefix, "demo"), 120, "the session never ended")
    assert end.frames_analysed == 45, f"every 4th of 180 frames is 45, got {end.frames_analysed}"
    seqs = sorted({job.seq for job in faces(rclient, prefix, "demo")})
    pts = sorted({round(job.pts * 15) for job in faces(rclient, prefix, "demo")})
    assert seqs[0] == 0 and all(p % 4 == 0 for p in pts), f"only frames 0, 4, 8, ... should be analysed: {pts[:10]}"


def test_faces_smaller_than_min_face_px_are_skipped_and_counted(
    make_config: Any, run_worker: Callable[..., IngestWorker], rclient: redis.Redis, prefix: str, demo_clip: Path
) -> None:
    """The demo faces are 72-156 px: with min_face_px 200 every detection is too small."""
    config = make_config(sources=[{"id": "demo", "url": str(demo_clip), "every_nth": 10}], detector={"min_face_px": 200, "interval": 1})
    worker = run_worker(config)
    [end] = wait_for(lambda: ends(rclient, prefix, "demo"), 120, "the session never ended")
    assert end.faces == 0 and not faces(rclient, prefix), "no face below min_face_px may be published"
    assert end.faces_skipped >= 25, f"the skipped faces should be counted in the session: {end}"
    assert metric(worker, "emostream_ingest_faces_total", source="demo", detector=config.detector.backend, outcome="too_small") == end.faces_skipped


def test_a_live_source_is_analysed_at_most_fps_times_a_second_and_the_rest_skipped(
    make_config: Any, run_worker: Callable[..., IngestWorker], rclient: redis.Redis, prefix: str
) -> None:
    """lavfi testsrc at 25 frames/s, paced by its timestamps: far more frames than fps; all but the newest are skipped."""
    worker = run_worker(make_config(sources=[{"id": "gen", "url": LAVFI, "fps": 4}], detector={"backend": "haar"}))
    wait_for(lambda: metric(worker, "emostream_ingest_frames_total", source="gen", outcome="analysed") >= 1, 60, "no frame analysed")
    first = metric(worker, "emostream_ingest_frames_total", source="gen", outcome="analysed")
    worker.stop.wait(3.0)
    analysed = metric(worker, "emostream_ingest_frames_total", source="gen", outcome="analysed") - first
    skipped = metric(worker, "emostream_ingest_frames_total", source="gen", outcome="skipped")
    dropped = metric(worker, "emostream_ingest_frames_total", source="gen", outcome="dropped")
    assert 6 <= analysed <= 14, f"about 4 fps x 3 s = 12 frames should be analysed, got {analysed}"
    assert skipped > analysed, f"the frames not analysed must be skipped and counted: {skipped} skipped, {analysed} analysed"
    assert dropped == 0, "pacing is not backpressure: nothing is dropped while the classifiers keep up"
    assert metric(worker, "emostream_ingest_source_up", source="gen") == 1.0


def test_bad_sources_fail_alone_each_with_its_kind_while_a_good_one_keeps_producing(
    make_config: Any, run_worker: Callable[..., IngestWorker], rclient: redis.Redis, prefix: str, bad_files: dict[str, Path]
) -> None:
    from tests.support.rtsp import free_port

    bad = {
        "unreachable": (f"rtsp://admin:pw@127.0.0.1:{free_port()}/cam", "unreachable"),
        "notvideo": (str(bad_files["not_video"]), "not_video"),
        "truncated": (str(bad_files["truncated"]), "corrupt"),
        "halfclip": (str(bad_files["truncated_faststart"]), "corrupt"),
        "damaged": (str(bad_files["corrupt"]), "corrupt"),
        "nocam": ("/dev/video99", "no_device"),
        "missing": ("/no/such/clip.mp4", "not_found"),
    }
    # every_nth keeps the damaged clips' good frames cheap to analyse (Haar is slow on a busy 2-core machine).
    sources = [{"id": "good", "url": LAVFI, "fps": 5}] + [{"id": sid, "url": url, "every_nth": 10} for sid, (url, _) in bad.items()]
    worker = run_worker(make_config(sources=sources, detector={"backend": "haar"}, ingest={"reconnect_max_s": 1.0}))
    for sid, (_, kind) in bad.items():
        wait_for(lambda sid=sid, kind=kind: errors(worker, sid, kind) >= 1, 60, f"source {sid} should fail with kind {kind}")  # type: ignore[misc]
    before = metric(worker, "emostream_ingest_frames_total", source="good", outcome="analysed")
    worker.stop.wait(2.0)
    after = metric(worker, "emostream_ingest_frames_total", source="good", outcome="analysed")
    assert after - before >= 4, f"the good source should keep producing next to the bad ones ({before} -> {after})"
    assert worker.health()["sources"]["good"] == "up", worker.health()  # type: ignore[index]
    assert metric(worker, "emostream_ingest_reconnects_total", source="unreachable") >= 1, "an unreachable camera is retried"
    assert worker.runners["unreachable"].thread.is_alive() and worker.runners["nocam"].thread.is_alive(), "live sources retry forever"
    # The damaged and half files still delivered their good frames before failing.
    for sid in ("halfclip", "damaged"):
        [end] = ends(rclient, prefix, sid)
        assert end.reason == "error" and end.frames_analysed >= 5, f"{sid}: {end}"
