"""The ``sessions`` and ``tracks`` subcommands: read the aggregator's results straight from Redis.

``emostream sessions list [--open|--ended]`` and ``emostream sessions show ID``
print what the HTTP API serves (open sessions live, ended ones from their
stored summaries); ``emostream tracks [--follow]`` prints track events. They
use the configured Redis (``--config``, ``EMOSTREAM_*``) and need no running
aggregator. Only light modules are imported when the parser is built.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from emostream.aggregator.summary import frames_line, shares_text
from emostream.config import Config, load_config


def _config(args: argparse.Namespace) -> Config:
    path = args.config or os.environ.get("EMOSTREAM_CONFIG")
    return load_config(Path(path) if path else None)


def _queries(config: Config) -> Any:
    from emostream.aggregator.queries import SessionQueries
    from emostream.streams.connection import connect
    from emostream.streams.keys import Keys

    return SessionQueries(connect(config.redis), Keys(config.redis.prefix), config.aggregator.chart_bucket_s)


def _fail(message: str) -> int:
    print(f"emostream: {message}", file=sys.stderr)
    return 2


def cmd_sessions_list(args: argparse.Namespace) -> int:
    from emostream.streams.errors import RedisUnavailable

    try:
        queries = _queries(_config(args))
    except RedisUnavailable as exc:
        return _fail(str(exc))
    if args.open:
        rows = queries.list_open(args.source_id)
    elif args.ended:
        rows = queries.list_ended(args.source_id, args.limit)
    else:
        rows = queries.list_all(args.source_id, args.limit)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no sessions")
        return 0
    print(f"{'STATE':<7} {'SESSION':<36} {'SOURCE':<12} {'STARTED':<24} {'DURATION':>9} {'FACES':>6} {'TRACKS':>6}  DOMINANT")
    for row in rows:
        print(
            f"{row['state']:<7} {row['session']:<36} {row['source'] or '?':<12} {row['started_at']:<24} "
            f"{row['duration_s']:>7.1f} s {row['faces']:>6} {row['tracks']:>6}  {row['dominant'] or '-'}"
        )
    return 0


def format_session(summary: dict[str, Any]) -> str:
    share = sorted(summary["emotions"]["share"].items(), key=lambda kv: -kv[1])
    lines = [
        f"Session {summary['session']} ({summary['source']}), {summary['state']}",
        f"  started {summary['started_at']}, {summary['duration_s']:.1f} s"
        + (f", ended {summary['ended_at']} ({summary['end_reason']})" if summary.get("ended_at") else ""),
        f"  {frames_line(summary['frames'])}",
        f"  faces {summary['faces']}, tracks {summary['tracks']}",
        "  emotion share: " + shares_text(share),
    ]
    for minute in summary["timeline"]:
        top = max(minute["share"].items(), key=lambda kv: kv[1])
        lines.append(f"  minute {minute['minute']}: mostly {top[0]} ({top[1]:.0%})")
    for track in summary["track_summaries"]:
        lines.append(f"  face #{track['track_id']}: {track['duration_s']:.1f} s, {track['faces']} faces, mostly {track['dominant']}")
    for track in summary.get("active_tracks", []):
        lines.append(f"  face #{track['track_id']} (active): now {track['label']} ({track['score']:.2f})")
    return "\n".join(lines)


def cmd_sessions_show(args: argparse.Namespace) -> int:
    from emostream.streams.errors import RedisUnavailable

    try:
        summary = _queries(_config(args)).get(args.session)
    except RedisUnavailable as exc:
        return _fail(str(exc))
    if summary is None:
        return _fail(f"no session {args.session!r} (ended sessions are kept for aggregator.retention_s)")
    print(json.dumps(summary, indent=2) if args.json else format_session(summary))
    return 0


def cmd_tracks(args: argparse.Namespace) -> int:
    from emostream.client.follow import as_json, format_track
    from emostream.client.subscribe import Subscriber
    from emostream.streams.errors import RedisUnavailable

    config = _config(args)
    try:
        subscriber = Subscriber.from_config(config, block_ms=500)
    except RedisUnavailable as exc:
        return _fail(str(exc))
    try:
        for record in subscriber.tracks(args.source_id or None, from_start=not args.follow or args.from_start, follow=args.follow):
            print(as_json(record.data) if args.json else format_track(record.data), flush=True)
    except KeyboardInterrupt:
        pass
    return 0


def register(subparsers: Any) -> dict[str, argparse.ArgumentParser]:
    """Add ``sessions`` (with ``list`` and ``show``) and ``tracks`` to the top-level subparsers."""
    sessions = subparsers.add_parser("sessions", help="list sessions (open and ended) or show one", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = sessions.add_subparsers(dest="sessions_command", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="open sessions (live) and ended ones, newest first")
    which = listing.add_mutually_exclusive_group()
    which.add_argument("--open", action="store_true", help="only sessions still running")
    which.add_argument("--ended", action="store_true", help="only ended sessions")
    listing.add_argument("--source", dest="source_id", metavar="ID", help="only this source")
    listing.add_argument("--limit", type=int, default=100, help="at most this many ended sessions (default 100)")
    listing.add_argument("--json", action="store_true", help="JSON instead of a table")
    listing.set_defaults(func=cmd_sessions_list)
    show = actions.add_parser("show", help="the summary of one session (live counts if it is still open)")
    show.add_argument("session", metavar="ID")
    show.add_argument("--json", action="store_true", help="the summary as JSON")
    show.set_defaults(func=cmd_sessions_show)

    tracks = subparsers.add_parser("tracks", help="print track events (all so far, or as they arrive with --follow)")
    tracks.add_argument("--follow", "-f", action="store_true", help="keep printing new track events until Ctrl-C")
    tracks.add_argument("--from-start", action="store_true", help="with --follow, begin with the track events already stored")
    tracks.add_argument("--source", dest="source_id", action="append", metavar="ID", help="only this source (repeatable)")
    tracks.add_argument("--json", action="store_true", help="one JSON track event per line")
    tracks.set_defaults(func=cmd_tracks)
    return {"sessions": sessions, "tracks": tracks}
