"""Redis servers with authentication, ACL users or TLS, started by a test on a free loopback port.

``tests.conftest.RedisServer`` covers a plain server (and a password); these need
arbitrary server arguments and a readiness probe that speaks TLS, so they start
``redis-server`` themselves. Nothing here touches a Redis the developer runs.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis

from emostream.infra.emotions import EMOTIONS
from emostream.streams.events import build_event, encode_event
from emostream.streams.keys import Keys
from emostream.streams.lifecycle import SessionEnd, SessionStart, encode_lifecycle
from tests.conftest import REPO, free_port
from tests.helpers import face_job, wait_for

DEPLOY_DOC = REPO / "docs" / "deploy.md"


def redis_binary() -> str:
    """``redis-server`` (or ``valkey-server``) from PATH: the embedded test server may lack TLS."""
    binary = shutil.which("redis-server") or shutil.which("valkey-server")
    if binary is None:
        pytest.skip("redis-server is not installed (scripts/system-deps.sh installs it); ACL and TLS tests need a real Redis")
    return binary


class Server:
    """``redis-server ARGS`` on a free loopback port, ready once ``probe()`` answers a PING."""

    def __init__(self, args: list[str], probe: Callable[[int], redis.Redis], tls: bool = False, bind: str = "127.0.0.1") -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="emostream-sec-redis-"))
        port_args = ["--port", "0", "--tls-port", str(self.port)] if tls else ["--port", str(self.port)]
        self.args = [redis_binary(), *port_args, "--bind", *bind.split(), "--save", "", "--appendonly", "no", "--dir", str(self.dir), *args]
        self.probe = probe
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = self.dir / "server.log"

    def start(self) -> Server:
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(self.args, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while True:
            try:
                client = self.probe(self.port)
                client.ping()
                client.close()
                return self
            except (redis.ConnectionError, OSError):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"redis-server did not start: {self.log.read_text(errors='replace')[-2000:]}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


def acl_rule_from_docs(user: str, password: str, prefix: str) -> list[str]:
    """The ``ACL SETUSER`` rule that docs/deploy.md tells operators to use, for ``user``/``prefix``.

    Read from the page, so the tests prove that what is documented is enough and no more.
    """
    match = re.search(r"^ACL SETUSER emostream (.+)$", DEPLOY_DOC.read_text(), re.M)
    assert match, "docs/deploy.md lost its `ACL SETUSER emostream ...` line"
    rules = match.group(1).split()
    assert ">CHANGE-ME" in rules and "~emostream:*" in rules, f"unexpected documented ACL rule: {rules}"
    return [user] + [f">{password}" if r == ">CHANGE-ME" else f"~{prefix}:*" if r == "~emostream:*" else r for r in rules]


@dataclass
class Certs:
    folder: Path
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path  # a CA that signed nothing here


def make_certs(folder: Path) -> Certs:
    """A throwaway CA, a server certificate for 127.0.0.1/localhost and a client certificate (openssl)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed (scripts/system-deps.sh installs it); the TLS tests need it")

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], cwd=folder, check=True, capture_output=True, timeout=60)

    folder.mkdir(parents=True, exist_ok=True)
    for ca in ("ca", "other-ca"):
        run(
            "req",
            "-x509",
            "-new",
            "-nodes",
            "-newkey",
            "rsa:2048",
            "-keyout",
            f"{ca}.key",
            "-out",
            f"{ca}.crt",
            "-days",
            "2",
            "-subj",
            f"/CN=emostream test {ca}",
        )
    (folder / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    (folder / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for who in ("server", "client"):
        run("req", "-new", "-nodes", "-newkey", "rsa:2048", "-keyout", f"{who}.key", "-out", f"{who}.csr", "-subj", f"/CN=emostream test {who}")
        run(
            "x509",
            "-req",
            "-in",
            f"{who}.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            f"{who}.crt",
            "-days",
            "2",
            "-extfile",
            f"{who}.ext",
        )
    return Certs(folder, folder / "ca.crt", folder / "server.crt", folder / "server.key", folder / "client.crt", folder / "client.key", folder / "other-ca.crt")


def publish_session(client: redis.Redis, keys: Keys, session: str, labels: list[str], source: str = "cam1") -> None:
    """A whole session as ingest and the classifier would write it: start, one event per label, end."""
    now = time.time()
    client.sadd(keys.sources, source)
    client.xadd(keys.lifecycle, encode_lifecycle(SessionStart(source, session, now, f"{source}.mp4")))
    for seq, label in enumerate(labels):
        probs = np.full(len(EMOTIONS), 0.01, np.float32)
        probs[EMOTIONS.index(label)] = 0.94
        job = face_job(source=source, session=session, seq=seq, track=1, pts=seq / 10, offset=seq / 10, interval=0.1)
        client.xadd(keys.events(source), encode_event(build_event(job, probs, "m", "1", 1.0, 2.0, now)))
    end = SessionEnd(source, session, now, now + 1, "eof", len(labels), 0, 0, len(labels), 0)
    client.xadd(keys.lifecycle, encode_lifecycle(end))


def serve_until_summary(worker: Any, admin: redis.Redis, session: str, logs: Callable[[], str] = str, timeout: float = 30) -> dict[str, Any]:
    """Run ``worker.serve()`` (the real loop) in a thread until the session's summary is stored, then drain it.

    The loop logs and survives a failing step (a denied command, say), so a failure
    shows here as a missing summary: the message then carries the worker's log.
    """
    errors: list[BaseException] = []

    def main() -> None:
        try:
            worker.serve()
        except BaseException as exc:  # reported by the test, not lost in the thread
            errors.append(exc)

    thread = threading.Thread(target=main, name="aggregator-under-test", daemon=True)
    thread.start()
    try:
        raw = wait_for(lambda: errors or admin.get(worker.keys.session(session)), timeout, f"no summary for {session}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the worker logged:\n{logs()[-4000:]}") from None
    finally:
        worker.stop.set()
        thread.join(30)
    assert not errors, f"the worker's loop raised {errors[0]!r}"
    assert not thread.is_alive(), "the worker did not stop within 30 s of its stop event"
    return dict(json.loads(raw))
