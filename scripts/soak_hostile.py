"""Soak: hostile entries written for N seconds beside repeated normal 3-source ``emostream run``s (docs/SOAK.md).

Starts its own redis-server, then runs ``emostream run --quiet`` on three
copies of the demo clip again and again on that Redis, while a thread writes
the hostile suite's bad entries (``tests/hostile/entries.py``) to the same
streams. Samples the RSS of each role every second, counts the runs' log
lines, and checks at the end: every good session summarised exactly once,
every bad entry dead-lettered exactly once, each role's RSS under its bound.

    PYTHONPATH=src:. .venv/bin/python scripts/soak_hostile.py --seconds 300
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections import Counter
from pathlib import Path

import redis
from hypothesis import strategies as st

from emostream.run.pipeline import demo_clip
from emostream.streams.keys import Keys
from emostream.streams.lifecycle import SessionStart, decode_lifecycle
from emostream.streams.records import decode_summary
from tests.hostile.entries import bad_entries, write

RSS_BOUND_MB = {"ingest": 600, "classifier": 900, "aggregator": 400}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return out


def role_rss(pid: int) -> dict[str, float]:
    """RSS in MB of each worker process under ``pid``, by role (from its command line)."""
    rss = {}
    for child in children(pid):
        try:
            cmd = (Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")).decode(errors="replace")
            status = Path(f"/proc/{child}/status").read_text()
        except OSError:
            continue
        role = next((r for r in RSS_BOUND_MB if r in cmd), None)
        kb = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
        if role:
            rss[role] = kb / 1024
    return rss


def hostile_writer(client: redis.Redis, keys: Keys, stop: threading.Event, written: list[str]) -> None:
    strategy = st.lists(bad_entries("cam1") | bad_entries("cam2") | bad_entries("cam3"), min_size=1, max_size=8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        while not stop.wait(0.5):
            for bad in strategy.example():
                write(client, keys, bad)
                written.append(bad.kind)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=300)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="soak-"))
    port = free_port()
    server = subprocess.Popen(["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
    time.sleep(0.5)
    prefix = "soak"
    config = {
        "redis": {"url": f"redis://127.0.0.1:{port}/0", "prefix": prefix},
        "http": {"ingest_port": free_port(), "classifier_port": free_port(), "aggregator_port": free_port()},
        "aggregator": {"summary_dir": str(work / "sessions"), "end_grace_s": 2, "claim_idle_ms": 1000},
        "sources": [{"id": f"cam{i}", "url": str(demo_clip())} for i in (1, 2, 3)],
    }
    (work / "config.yaml").write_text(json.dumps(config))
    client, keys = redis.Redis(port=port), Keys(prefix)
    stop, written = threading.Event(), []
    writer = threading.Thread(target=hostile_writer, args=(client, keys, stop, written), daemon=True)
    peak: dict[str, float] = {}
    log_lines, runs, began = 0, 0, time.monotonic()
    env = {**os.environ, "EMOSTREAM_CONFIG": str(work / "config.yaml")}
    writer.start()
    while time.monotonic() - began < args.seconds or runs == 0:
        run = subprocess.Popen([sys.executable, "-m", "emostream", "run", "--quiet"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        lines: list[bytes] = []
        reader = threading.Thread(target=lambda r=run, out=lines: out.extend(r.stdout), daemon=True)  # type: ignore[misc]
        reader.start()
        while run.poll() is None:
            for role, mb in role_rss(run.pid).items():
                peak[role] = max(peak.get(role, 0.0), mb)
            if time.monotonic() - began > args.seconds:
                stop.set()
            time.sleep(1.0)
        reader.join(timeout=5)
        runs += 1
        log_lines += len(lines)
        print(f"run {runs}: exit {run.returncode}, {len(lines)} lines, {len(written)} bad entries so far, peak RSS {peak}", flush=True)
        if run.returncode != 0:
            print(b"".join(lines[-40:]).decode(errors="replace"))
    stop.set()
    writer.join(timeout=5)
    # A last run takes in what was written after the one before it ended.
    subprocess.run([sys.executable, "-m", "emostream", "run", "--quiet"], env=env, capture_output=True, check=False)
    starts = [m.session for _, f in client.xrange(keys.lifecycle) for m in [_start(f)] if m is not None]
    done = Counter(decode_summary(f).session for _, f in client.xrange(keys.sessions))
    good = [s for s in starts if "hostile" not in s and "never" not in s]
    letters = [(f[b"stream"], f[b"id"]) for _, f in client.xrange(keys.deadletter)]
    report = {
        "seconds": round(time.monotonic() - began), "runs": runs + 1, "good_sessions": len(good),
        "good_not_summarised_once": [s for s in good if done[s] != 1], "bad_entries": len(written),
        "dead_letters": len(letters), "dead_letters_unique": len(set(letters)), "peak_rss_mb": {k: round(v) for k, v in peak.items()},
        "rss_bound_mb": RSS_BOUND_MB, "log_lines": log_lines, "log_lines_per_run": round(log_lines / max(1, runs), 1),
    }
    print(json.dumps(report, indent=2))
    server.terminate()
    ok = (not report["good_not_summarised_once"] and len(letters) == len(written) == len(set(letters))
          and all(peak.get(r, 0) < b for r, b in RSS_BOUND_MB.items()))
    return 0 if ok else 1


def _start(fields: dict[bytes, bytes]) -> SessionStart | None:
    if fields.get(b"type") != b"start":
        return None
    try:
        message = decode_lifecycle(fields)
    except ValueError:
        return None
    return message if isinstance(message, SessionStart) else None


if __name__ == "__main__":
    sys.exit(main())
