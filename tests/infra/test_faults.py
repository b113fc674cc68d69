"""Repeated faults are logged once per distinct cause, then counted (``infra.faults``)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import redis
import yaml

from emostream.infra.faults import FaultLog
from emostream.streams.keys import Keys
from tests.conftest import RedisServer, free_port
from tests.helpers import wait_for

BAD_MEMBERS = ["../../etc", "a b", "x" * 300, "cam\n1", "{cam}:events"]


def test_each_subject_and_cause_is_logged_once_and_every_sighting_counted(caplog: pytest.LogCaptureFixture) -> None:
    faults = FaultLog("test_site_once", logging.getLogger("test.faults"), max_kept=2)
    with caplog.at_level(logging.WARNING, "test.faults"):
        for _ in range(10):
            faults.report("a", "bad", "a is bad")
            faults.report("b", "bad", "b is bad")
        faults.report("a", "worse", "a is worse")  # a new cause is news
        faults.clear("b")
        faults.report("b", "bad", "b is bad")  # well again in between: logged again
    assert [r.getMessage() for r in caplog.records] == ["a is bad", "b is bad", "a is worse", "b is bad"]
    assert faults.count == 22
    # ... and memory is bounded by max_kept (2): a new pair pushes out the least recent, which is news again
    assert faults.report("c", "bad", "c is bad"), "a new pair is logged"
    assert faults.report("a", "worse", "a is worse"), "the least recent pair was forgotten, so it is logged again"
    assert not faults.report("c", "bad", "c is bad"), "a recent pair is still remembered"


@pytest.mark.slow
def test_bad_members_of_the_source_set_are_warned_about_once_by_a_running_aggregator(redis_server: RedisServer, rclient: redis.Redis,
                                                                                    prefix: str, tmp_path: Path) -> None:
    # Given five members of <prefix>:sources that are not source ids
    rclient.sadd(Keys(prefix).sources, *BAD_MEMBERS)
    port = free_port()
    config = tmp_path / "agg.yaml"
    config.write_text(yaml.safe_dump({
        "redis": {"url": redis_server.url, "prefix": prefix},
        "http": {"aggregator_port": port, "ingest_port": 0, "classifier_port": 0},
        "aggregator": {"summary_dir": str(tmp_path / "sessions")},
    }))
    log = tmp_path / "agg.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMOSTREAM_")}
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "emostream", "--config", str(config), "aggregate"], stdout=out,
                                stderr=subprocess.STDOUT, env=env)
    try:
        # When the aggregator polls the set for several periods (about once a second)
        def faults() -> float:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                    text = response.read().decode()
            except OSError:
                return 0.0
            line = next((ln for ln in text.splitlines() if ln.startswith('emostream_faults_total{site="source_set_member"}')), None)
            return float(line.split()[-1]) if line else 0.0

        wait_for(lambda: faults() >= 6 * len(BAD_MEMBERS), 60, "six polls of the set should have counted every bad member")
        time.sleep(1)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    # Then each bad member was warned about once, however many polls met it
    warnings = [line for line in log.read_text().splitlines() if "not a valid source id" in line]
    assert len(warnings) == len(BAD_MEMBERS), "\n".join(warnings)
