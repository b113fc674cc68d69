"""``emostream run`` rides out a short Redis outage (issue #17, item 1).

The runner's own event reader used to raise ``ConnectionError`` when Redis went
away, SIGTERM the workers and exit 1 without a summary. Here a persistent
``redis-server`` is stopped for 5 s while the demo clip plays at its own pace:
the run must finish by itself, print the summary, and count every face once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import yaml

from emostream.streams.keys import Keys
from emostream.streams.lifecycle import SessionEnd, decode_lifecycle
from tests.conftest import RedisServer
from tests.helpers import wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def persistent_redis() -> Iterator[RedisServer]:
    server = RedisServer(persist=True).start()
    yield server
    server.stop()


def test_run_finishes_with_its_summary_across_a_redis_restart(
    persistent_redis: RedisServer, prefix: str, tmp_path: Path, demo_clip: Path
) -> None:
    # Given `emostream run` on the demo clip at its own pace, against a Redis with an append-only file
    config = {
        "redis": {"url": persistent_redis.url, "prefix": prefix},
        "sources": [{"id": "good", "url": str(demo_clip), "realtime": True}],
        "http": {"aggregator_port": 0, "classifier_port": 0, "ingest_port": 0},
        "aggregator": {"summary_dir": str(tmp_path / "sessions"), "claim_idle_ms": 1000, "reorder_ms": 200},
        "classifier": {"claim_idle_ms": 1000},
    }
    config_file = tmp_path / "c.yaml"
    config_file.write_text(yaml.safe_dump(config))
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMOSTREAM_")}
    out = tmp_path / "run.out"
    keys = Keys(prefix)
    client = redis.Redis.from_url(persistent_redis.url)
    with open(out, "wb") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "emostream", "--config", str(config_file), "run"], stdout=sink, stderr=subprocess.STDOUT, env=env)
    try:
        wait_for(lambda: client.xlen(keys.events("good")) >= 30 or proc.poll() is not None, 180, "events never flowed")
        assert proc.poll() is None, f"the run ended before the outage:\n{out.read_text()[-3000:]}"
        # When Redis is stopped while events flow, and started again 5 s later
        persistent_redis.restart(down_s=5.0)
        code = proc.wait(240)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = out.read_text()
    # Then the run finished by itself, successfully, with the session's summary printed
    assert code == 0, f"exit {code}:\n{text[-4000:]}"
    assert text.count("Session good-") == 1, f"no summary printed:\n{text[-4000:]}"
    assert "Traceback" not in text, text[-4000:]
    # ... and every face published was counted exactly once
    ends = [m for m in (decode_lifecycle(f) for _, f in client.xrange(keys.lifecycle)) if isinstance(m, SessionEnd)]
    assert [e.reason for e in ends] == ["eof"], f"the session must end at the clip's end, not be stopped: {ends}"
    ids = [json.loads(f[b"data"])["event_id"] for _, f in client.xrange(keys.events("good"))]
    assert len(ids) == len(set(ids)) == ends[0].faces, f"{len(ids)} events ({len(set(ids))} distinct) for {ends[0].faces} faces"
    [(_, fields)] = client.xrange(keys.sessions)
    summary = json.loads(fields[b"data"])
    assert summary["faces"] == ends[0].faces, f"the summary counts {summary['faces']} of {ends[0].faces} faces"
    assert f"faces {ends[0].faces}" in text, "the printed summary shows the count"
