"""End to end as a restricted Redis ACL user: ingest, classifier and aggregator processes on the demo clip.

Proves that the ``ACL SETUSER`` rule in docs/deploy.md is enough for every role,
and that a user the ACL refuses stops a worker at start-up with one clear line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import redis
import yaml

from emostream.streams.keys import Keys
from emostream.streams.lifecycle import decode_lifecycle
from tests.conftest import RedisServer
from tests.helpers import stop_roles, wait_for
from tests.security.servers import acl_rule_from_docs

pytestmark = pytest.mark.slow


def config_file(tmp_path: Path, port: int, user: str, prefix: str, demo_clip: Path) -> Path:
    path = tmp_path / "emostream.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "redis": {"url": f"redis://{user}@127.0.0.1:{port}/0", "prefix": prefix},  # password from the environment
                "sources": [{"id": "demo", "url": str(demo_clip), "every_nth": 4}],
                "http": {"ingest_port": 0, "classifier_port": 0, "aggregator_port": 0},
                "aggregator": {"summary_dir": str(tmp_path / "sessions"), "end_grace_s": 20},
            }
        )
    )
    return path


def spawn(role: str, config: Path, password: str, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMOSTREAM_")}
    env.update(EMOSTREAM_REDIS__PASSWORD=password, TF_CPP_MIN_LOG_LEVEL="2")
    with open(log, "wb") as out:
        command = [sys.executable, "-m", "emostream", "--config", str(config), role]
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)


def test_every_role_runs_as_the_documented_acl_user(acl_server: RedisServer, admin: redis.Redis, prefix: str, tmp_path: Path, demo_clip: Path) -> None:
    user, password = f"pipe-{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}"
    admin.execute_command("ACL", "SETUSER", *acl_rule_from_docs(user, password, prefix))
    config = config_file(tmp_path, acl_server.port, user, prefix, demo_clip)
    keys = Keys(prefix)
    procs = {role: spawn(role, config, password, tmp_path / f"{role}.log") for role in ("aggregate", "classify", "ingest")}

    def logs() -> str:
        return "\n".join(f"--- {role} ---\n{(tmp_path / f'{role}.log').read_text(errors='replace')[-3000:]}" for role in procs)

    try:

        def summarised() -> list[tuple[bytes, dict[bytes, bytes]]]:
            dead = [role for role, proc in procs.items() if proc.poll() not in (None, 0)]
            assert not dead, f"{dead} exited early:\n{logs()}"
            return admin.xrange(keys.sessions)  # type: ignore[return-value]

        raw = wait_for(summarised, 240, "no session summary was published")
        summary = json.loads(raw[0][1][b"data"])
        assert procs["ingest"].wait(60) == 0, logs()
        codes = stop_roles(procs)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    text = logs()
    assert codes == {"aggregate": 0, "classify": 0, "ingest": 0}, text
    assert "NOPERM" not in text and "no permissions" not in text, text
    assert password not in text
    ends = [m for m in (decode_lifecycle(f) for _, f in admin.xrange(keys.lifecycle)) if m.kind == "end"]
    assert len(ends) == 1 and ends[0].faces > 0, ends  # type: ignore[union-attr]
    assert admin.xlen(keys.events("demo")) == ends[0].faces == summary["faces"], "every face yields one event, counted once"  # type: ignore[union-attr]


@pytest.mark.parametrize("role", ["aggregate", "ingest"])
def test_a_worker_the_acl_refuses_exits_2_with_one_clear_line(
    role: str, acl_server: RedisServer, admin: redis.Redis, prefix: str, tmp_path: Path, demo_clip: Path
) -> None:
    user, password = f"deny-{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}"
    admin.execute_command("ACL", "SETUSER", *acl_rule_from_docs(user, password, "someone-else"))
    config = config_file(tmp_path, acl_server.port, user, prefix, demo_clip)
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMOSTREAM_")}
    env.update(EMOSTREAM_REDIS__PASSWORD=password, TF_CPP_MIN_LOG_LEVEL="2")
    command = [sys.executable, "-m", "emostream", "--config", str(config), role]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=180, env=env)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "may not create consumer group" in proc.stderr and "docs/deploy.md" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and password not in proc.stdout + proc.stderr
