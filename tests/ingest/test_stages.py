"""The stage profile: laps charge the right stage, marks leave gaps to "the rest", tallies are per thread, and a real worker fills it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from emostream.ingest.stages import OFF, StageProfile, Tally
from emostream.ingest.worker import IngestWorker
from tests.helpers import wait_for
from tests.support.ingest import ends


def busy(seconds: float) -> None:
    """Spend ``seconds`` of this thread's CPU (a sleep would leave the CPU clock still; load stretches only the wall clock)."""
    until = time.thread_time() + seconds
    while time.thread_time() < until:
        pass


def test_a_lap_charges_the_time_since_the_previous_mark_and_a_mark_charges_nobody() -> None:
    profile = StageProfile()
    profile.mark()
    busy(0.02)
    profile.lap("detect")
    busy(0.03)
    profile.mark()  # the 30 ms before it are nobody's: the rest
    busy(0.01)
    profile.lap("crop")
    profile.frame_done()
    [tally] = profile.tallies()
    assert tally.frames == 1
    cpu = {stage: ns / 1e9 for stage, ns in tally.cpu.items()}
    assert 0.02 <= cpu["detect"] < 0.028 and 0.01 <= cpu["crop"] < 0.018, cpu
    # wall time is at least the CPU time (the two clocks are read a few ns apart: 1 ms of slack)
    assert all(tally.wall[stage] >= tally.cpu[stage] - 1_000_000 for stage in ("detect", "crop")), (tally.wall, tally.cpu)
    rest = (tally.span[1] - sum(tally.cpu.values())) / 1e9
    assert 0.03 <= rest < 0.038, f"the unclaimed gap is the rest: {rest * 1e3:.1f} ms"


def test_each_thread_keeps_its_own_tally_and_its_first_call_charges_nothing() -> None:
    profile = StageProfile()

    def work(stage: str, frames: int) -> None:
        busy(0.01)  # before the thread's first call: not counted
        for _ in range(frames):
            profile.lap(stage)
            profile.frame_done()

    threads = [threading.Thread(target=work, args=("a", 3)), threading.Thread(target=work, args=("b", 2))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    first, second = profile.tallies()
    assert (first.frames, set(first.wall), second.frames, set(second.wall)) == (3, {"a"}, 2, {"b"})
    assert first.cpu["a"] < 0.005e9 and second.cpu["b"] < 0.005e9, "a thread's first lap starts the clock"


def test_the_production_clock_records_nothing() -> None:
    OFF.mark()
    OFF.lap("detect")
    OFF.frame_done()
    assert not hasattr(OFF, "tallies")


def test_a_real_worker_charges_every_stage_of_each_analysed_frame(
    make_config: Any, run_worker: Callable[..., IngestWorker], rclient: redis.Redis, prefix: str, demo_clip: Path
) -> None:
    profile = StageProfile()
    ingest = {"decode_ahead": 0, "publish_behind": 0}
    config = make_config(sources=[{"id": "demo", "url": str(demo_clip), "every_nth": 6}], detector={"backend": "blazeface"}, ingest=ingest)
    run_worker(config, stages=profile)
    [end] = wait_for(lambda: ends(rclient, prefix, "demo"), 120, "the demo clip's session never ended")
    [source] = [t for t in profile.tallies() if t.frames]
    assert source.frames == end.frames_analysed == 30
    stages = {"decode", "convert", "detect", "wait", "track", "crop", "encode", "publish", "admit"}
    assert set(source.wall) == stages and all(ns > 0 for ns in source.wall.values()), source.wall
    assert sum(source.wall.values()) <= source.span[0], "stages never claim more than the thread's span"


def profiled_threads(
    make_config: Any, run_worker: Callable[..., IngestWorker], rclient: redis.Redis, prefix: str, clip: Path, detect_threads: int
) -> tuple[Tally, list[list[str]]]:
    """The demo clip (every 6th frame) with a decode thread and a writer: the source's tally, and each other thread's stages."""
    profile = StageProfile()
    ingest = {"decode_ahead": 2, "publish_behind": 2, "detect_threads": detect_threads}
    # on_lost off: a frame detected for a lost face is detected on the source's thread (charged "convert" and "detect" there)
    detector = {"backend": "blazeface", "on_lost": False}
    config = make_config(sources=[{"id": "demo", "url": str(clip), "every_nth": 6}], detector=detector, ingest=ingest)
    run_worker(config, stages=profile)
    [end] = wait_for(lambda: ends(rclient, prefix, "demo"), 120, "the demo clip's session never ended")
    [source] = [t for t in profile.tallies() if t.frames]
    assert source.frames == end.frames_analysed == 30
    return source, sorted(sorted(t.wall) for t in profile.tallies() if not t.frames)


def test_with_threads_ahead_and_behind_the_decode_thread_charges_detection_the_writer_publishing_and_the_source_the_rest(
    make_config: Any, run_worker: Callable[..., IngestWorker], rclient: redis.Redis, prefix: str, demo_clip: Path
) -> None:
    source, helpers = profiled_threads(make_config, run_worker, rclient, prefix, demo_clip, 1)
    assert helpers == [["convert", "decode", "detect"], ["encode", "publish"]], helpers
    assert set(source.wall) == {"wait", "track", "crop", "admit"}, source.wall


def test_with_detection_threads_they_charge_detection_and_the_decode_thread_only_decodes_and_converts(
    make_config: Any, run_worker: Callable[..., IngestWorker], rclient: redis.Redis, prefix: str, demo_clip: Path
) -> None:
    source, helpers = profiled_threads(make_config, run_worker, rclient, prefix, demo_clip, 2)
    detecting = [h for h in helpers if h == ["detect"]]
    assert 1 <= len(detecting) <= 2, f"the pool's threads charge detection alone: {helpers}"
    assert [h for h in helpers if h != ["detect"]] == [["convert", "decode"], ["encode", "publish"]], helpers
    assert set(source.wall) == {"wait", "track", "crop", "admit"}, source.wall
