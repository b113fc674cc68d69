"""Backpressure with real processes: a stalled classifier bounds the queue and makes ingest drop."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from emostream.streams.group_commands import backlog
from emostream.streams.keys import CLASSIFIER_GROUP, Keys
from tests.classifier.procs import Procs, healthy, metric, scrape
from tests.conftest import free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

BACKLOG_MAX = 10
FPS = 10.0
# The probe re-reads the backlog every 0.2 s, so a few frames (2 faces each) can
# pass after the bound is crossed.
SLACK = 10


def test_a_stalled_classifier_bounds_the_backlog_and_live_ingest_drops_frames(
    make_config: Any, procs: Procs, rclient: redis.Redis, demo_clip: Path
) -> None:
    # Given a live source (the demo clip read as a camera) at 10 fps, and a classifier.
    ingest_port, classifier_port = free_port(), free_port()
    config = make_config(
        sources=[{"id": "live1", "url": str(demo_clip), "live": True, "realtime": True, "fps": FPS}],
        # The size bound alone: with the time bound on, a stalled classifier makes ingest stop queueing
        # even before backlog_max faces wait (that bound has its own test, test_freshness.py).
        ingest={"backlog_max": BACKLOG_MAX, "exit_at_end": False, "max_queue_age_ms": 0},
        classifier={"model": "mini-xception", "batch_max": 16, "batch_wait_ms": 10},
        http={"ingest_port": ingest_port, "classifier_port": classifier_port},
    )
    keys = Keys(config.redis.prefix)
    classifier = procs.start("classifier", config, "classify", "--consumer", "slow")
    procs.start("ingest", config, "ingest")
    procs.wait_for(lambda: rclient.xlen(keys.events("live1")) > 0, 120, "events flow before the stall")

    # When the classifier stops taking work,
    classifier.send_signal(signal.SIGSTOP)
    procs.wait_for(lambda: backlog(rclient, keys.faces, CLASSIFIER_GROUP) >= BACKLOG_MAX, 30, "the backlog reaches ingest.backlog_max")
    time.sleep(0.5)  # ingest's probe has seen it
    before = scrape(ingest_port)
    length_before = rclient.xlen(keys.faces)
    peak = 0
    window_end = time.monotonic() + 3.0
    while time.monotonic() < window_end:
        peak = max(peak, backlog(rclient, keys.faces, CLASSIFIER_GROUP))
        time.sleep(0.05)
    after = scrape(ingest_port)
    grown = rclient.xlen(keys.faces) - length_before

    # then the queue stays bounded, ingest analyses nothing new and counts the drops,
    analysed = metric(after, "emostream_ingest_frames_total", source="live1", outcome="analysed") - metric(
        before, "emostream_ingest_frames_total", source="live1", outcome="analysed"
    )
    dropped = metric(after, "emostream_ingest_frames_total", source="live1", outcome="dropped") - metric(
        before, "emostream_ingest_frames_total", source="live1", outcome="dropped"
    )
    assert peak <= BACKLOG_MAX + SLACK, f"backlog peaked at {peak} with ingest.backlog_max {BACKLOG_MAX}"
    assert grown <= SLACK, f"the faces stream grew by {grown} entries while the classifier was stalled"
    assert analysed <= 1, f"ingest analysed {analysed} frames while over the backlog bound"
    assert dropped >= FPS * 3 * 0.5, f"only {dropped} frames dropped in 3 s at {FPS} fps"
    assert metric(after, "emostream_stream_backlog_entries", stream=keys.faces) >= BACKLOG_MAX, "the backlog gauge shows the stall"

    # and once the classifier resumes, the backlog drains and frames are analysed again.
    classifier.send_signal(signal.SIGCONT)
    events_before = rclient.xlen(keys.events("live1"))
    procs.wait_for(lambda: backlog(rclient, keys.faces, CLASSIFIER_GROUP) < BACKLOG_MAX, 30, "the backlog drains after the stall")

    def analysed_again() -> bool:
        now = metric(scrape(ingest_port), "emostream_ingest_frames_total", source="live1", outcome="analysed")
        return now > metric(after, "emostream_ingest_frames_total", source="live1", outcome="analysed") + 3

    procs.wait_for(analysed_again, 30, "ingest analyses frames again")
    procs.wait_for(lambda: rclient.xlen(keys.events("live1")) > events_before, 30, "events flow again")
    assert healthy(classifier_port), "the classifier survived the stall"
    print(f"backlog peak {peak} (bound {BACKLOG_MAX}), {dropped:.0f} frames dropped in 3 s, stream grew by {grown}")
