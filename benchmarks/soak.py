"""``make soak``: hours-long stability in minutes: memory, fds and stream lengths under steady load.

Runs the real worker processes on a private Redis with N sources (the demo
clip looped at real-time pace, a new session each pass) for ``--minutes``,
sampling every worker's resident memory, open file descriptors and every
stream's length. After the warm-up, each worker's memory must grow by less
than ``--max-growth`` (10 %), every stream must stay within its cap, and every
summarised session's events plus counted drops must equal the faces ingest
announced, with no dead letters. RSS and fd slopes are reported, not judged.
Writes a report (default ``docs/SOAK.md``); exits 1 if a check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from benchmarks import ROOT
from benchmarks.harness import Cluster
from benchmarks.machine import describe
from emostream.run.pipeline import demo_clip
from emostream.streams.keys import Keys

ROLES = ("aggregate", "classify", "ingest")
PREFIX = "soak"


def rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def fd_count(pid: int) -> float | None:
    try:
        return float(len(os.listdir(f"/proc/{pid}/fd")))
    except OSError:
        return None


def slope_per_hour(times_min: list[float], values: list[float]) -> float:
    """Least-squares slope, per hour: a leak shows as a steady climb, which first/last medians can miss."""
    if len(times_min) < 2:
        return 0.0
    mt, mv = statistics.fmean(times_min), statistics.fmean(values)
    den = sum((t - mt) ** 2 for t in times_min)
    return 60.0 * sum((t - mt) * (v - mv) for t, v in zip(times_min, values, strict=True)) / den if den else 0.0


def faces_accounted(summary_dir: Path) -> dict[str, int]:
    """Totals over the session summaries: events + faces dropped must equal the faces ingest announced."""
    totals = {"sessions": 0, "expected": 0, "events": 0, "dropped": 0, "short": 0}
    for path in summary_dir.rglob("*.json"):
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(doc, dict) or "faces_expected" not in doc:
            continue
        totals["sessions"] += 1
        totals["expected"] += int(doc["faces_expected"])
        totals["events"] += int(doc["faces"])
        totals["dropped"] += int(doc["faces_dropped"])
        totals["short"] += int(doc["faces"]) + int(doc["faces_dropped"]) != int(doc["faces_expected"])
    return totals


@dataclass
class Samples:
    times: list[float] = field(default_factory=list)
    rss: dict[str, list[float]] = field(default_factory=dict)
    fds: dict[str, list[float]] = field(default_factory=dict)
    lengths: dict[str, list[int]] = field(default_factory=dict)


def run(minutes: float, sources: int, warmup_minutes: float, max_growth: float, interval_s: float) -> tuple[bool, str]:
    workdir = Path(tempfile.mkdtemp(prefix="emostream-soak-"))
    cluster = Cluster(workdir)
    client: redis.Redis = cluster.start_redis()
    keys = Keys(PREFIX)
    caps = {"faces": 2_000, "events": 5_000}
    config = cluster.config_file(
        "soak",
        {
            "redis": {"url": cluster.url, "prefix": PREFIX, "faces_maxlen": caps["faces"], "events_maxlen": caps["events"]},
            "sources": [{"id": f"s{i}", "url": str(demo_clip()), "realtime": True, "loop": True} for i in range(sources)],
            "http": {"aggregator_port": 0, "classifier_port": 0, "ingest_port": 0},
            "aggregator": {"summary_dir": str(workdir / "sessions")},
            "tracks": {"maxlen": caps["events"]},
        },
    )
    samples = Samples()
    streams = {"faces": keys.faces} | {f"events:s{i}": keys.events(f"s{i}") for i in range(sources)}
    streams |= {f"tracks:s{i}": keys.tracks(f"s{i}") for i in range(sources)}
    try:
        for role in ROLES:
            cluster.spawn(role, config, role)
        started = time.monotonic()
        while time.monotonic() - started < minutes * 60:
            time.sleep(interval_s)
            cluster.check_running(*ROLES)
            samples.times.append((time.monotonic() - started) / 60.0)
            for role in ROLES:
                samples.rss.setdefault(role, []).append(rss_mib(cluster.procs[role].pid) or 0.0)
                samples.fds.setdefault(role, []).append(fd_count(cluster.procs[role].pid) or 0.0)
            if cluster.redis_proc is not None:
                samples.rss.setdefault("redis", []).append(rss_mib(cluster.redis_proc.pid) or 0.0)
                samples.fds.setdefault("redis", []).append(fd_count(cluster.redis_proc.pid) or 0.0)
            for name, stream in streams.items():
                samples.lengths.setdefault(name, []).append(int(client.xlen(stream)))
        sessions = int(client.xlen(keys.sessions))
        deadletters = int(client.xlen(keys.deadletter))
    finally:
        cluster.close()
    accounted = faces_accounted(workdir / "sessions") | {"deadletters": deadletters}
    ok, text = report(samples, minutes, sources, warmup_minutes, max_growth, caps, sessions)
    return lost_section(ok, text, accounted)


def lost_section(ok: bool, text: str, acc: dict[str, int]) -> tuple[bool, str]:
    """Nothing lost: every summarised session's faces are events or counted drops, and nothing was dead-lettered."""
    passed = acc["sessions"] > 0 and acc["short"] == 0 and acc["deadletters"] == 0
    lines = [
        "## Nothing lost",
        "",
        "Per summarised session (the aggregator's summary files): events + faces dropped for age = faces ingest announced "
        "in its end message. Sessions still open when the run stopped are not counted.",
        "",
        "| sessions summarised | faces announced | events | dropped for age | sessions short | dead letters | verdict |",
        "|---|---|---|---|---|---|---|",
        f"| {acc['sessions']} | {acc['expected']} | {acc['events']} | {acc['dropped']} | {acc['short']} | {acc['deadletters']} "
        f"| {'ok' if passed else '**lost**'} |",
        "",
    ]
    head, _, _ = text.rpartition("**Verdict:")
    ok &= passed
    return ok, head + "\n".join(lines) + f"\n**Verdict: {'pass' if ok else 'FAIL'}**\n"


def report(
    samples: Samples, minutes: float, sources: int, warmup: float, max_growth: float, caps: dict[str, int], sessions: int
) -> tuple[bool, str]:
    after = [i for i, t in enumerate(samples.times) if t >= warmup]
    ok = bool(after)
    lines = [
        "# Soak test",
        "",
        f"{sources} sources (the demo clip looped at real-time pace, a new session each 12 s pass) for {minutes:g} minutes; "
        f"memory compared from the end of a {warmup:g}-minute warm-up to the end. {sessions} sessions were summarised.",
        "",
        "Repeat with:",
        "",
        "```sh",
        "make soak   # " + shlex.join(["python", "-m", "benchmarks.soak", "--minutes", f"{minutes:g}", "--sources", str(sources)]),
        "```",
        "",
        "| | |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in describe().items()],
        "",
        "## Resident memory",
        "",
        f"| process | after warm-up (MiB) | at the end (MiB) | peak (MiB) | growth | limit {max_growth:.0%} |",
        "|---|---|---|---|---|---|",
    ]
    for role, values in samples.rss.items():
        if not after:
            continue
        # Median of the first and last minute of samples, so one GC pause does not decide the verdict.
        window = max(1, len(after) // 10)
        base = statistics.median(values[after[0] : after[0] + window])
        end = statistics.median(values[-window:])
        growth = end / base - 1 if base else 0.0
        passed = growth < max_growth or role == "redis"  # Redis holds the capped streams: judged by their caps below
        ok &= passed
        verdict = "ok" if passed else "**too much**"
        lines.append(f"| {role} | {base:.0f} | {end:.0f} | {max(values):.0f} | {growth:+.1%} | {verdict} |")
    lines += ["", "## Slopes after the warm-up (least squares)", "", "| process | RSS (MiB/h) | open fds (start → end) | fds (per h) |", "|---|---|---|---|"]
    for role, values in samples.rss.items():
        ts = [samples.times[i] for i in after]
        fds = [samples.fds.get(role, [0.0] * len(values))[i] for i in after]
        rss_slope = slope_per_hour(ts, [values[i] for i in after])
        span = f"{fds[0]:.0f} → {fds[-1]:.0f}" if fds else "-"
        lines.append(f"| {role} | {rss_slope:+.1f} | {span} | {slope_per_hour(ts, fds):+.1f} |")
    lines += ["", "## Stream lengths", "", "| stream | cap (approximate) | longest seen | within cap |", "|---|---|---|---|"]
    for name, lengths in samples.lengths.items():
        cap = caps["faces"] if name == "faces" else caps["events"]
        # MAXLEN ~ trims whole macro-nodes (up to 100 entries by default), so allow that much slack.
        passed = max(lengths, default=0) <= cap + 100
        ok &= passed
        lines.append(f"| `{name}` | {cap} | {max(lengths, default=0)} | {'yes' if passed else '**no**'} |")
    lines += ["", f"**Verdict: {'pass' if ok else 'FAIL'}**", ""]
    return ok, "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=20.0, help="how long to run (default %(default)s)")
    parser.add_argument("--sources", type=int, default=3, help="number of looped sources (default %(default)s)")
    parser.add_argument("--warmup-minutes", type=float, default=3.0, help="memory is compared from the end of this (default %(default)s)")
    parser.add_argument("--max-growth", type=float, default=0.10, help="largest allowed memory growth after warm-up (default %(default)s)")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between samples (default %(default)s)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "SOAK.md", help="report file (default: docs/SOAK.md of the repository)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    ok, text = run(args.minutes, args.sources, args.warmup_minutes, args.max_growth, args.interval)
    args.out.write_text(text)
    print(text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
