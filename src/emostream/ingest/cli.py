"""``emostream sources``: list, add and remove the sources of running ingest workers.

    emostream sources list
    emostream sources add cam2 rtsp://user:pass@10.0.0.7/stream1 --fps 5
    emostream sources remove cam2

A change is written to Redis and picked up by the worker within a second; the
command waits until the worker confirms it (``--wait``). With one ingest
worker running it is the target; with several, name one with ``--worker``.
Sources added this way survive a restart of the worker; removing a source of
the configuration file stops it until it is added again.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any


class CliError(Exception):
    """One line for the user; exit status 2."""


def _client_and_keys(args: argparse.Namespace) -> tuple[Any, Any]:
    from emostream.config import load_config
    from emostream.streams.connection import connect
    from emostream.streams.keys import Keys

    path = getattr(args, "config", None) or os.environ.get("EMOSTREAM_CONFIG")
    config = load_config(Path(path) if path else None)
    return connect(config.redis), Keys(config.redis.prefix)


def _running(workers: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    from emostream.ingest.control import STALE_S

    return {name: state for name, state in workers.items() if state["age_s"] < STALE_S}


def _target(args: argparse.Namespace, workers: dict[str, dict[str, Any]], source_id: str | None = None) -> str:
    """The worker named by --worker, else the only running one (or the only one running ``source_id``)."""
    if args.worker:
        return str(args.worker)
    running = _running(workers)
    if source_id is not None:
        holders = [name for name, state in running.items() if any(s["id"] == source_id for s in state["sources"])]
        if len(holders) == 1:
            return holders[0]
        if not holders:
            raise CliError(f"no running ingest worker has a source {source_id!r} (see `emostream sources list`)")
    if len(running) == 1:
        return next(iter(running))
    if not running:
        raise CliError("no ingest worker is running; start one (`emostream ingest`), or queue the change for one with --worker NAME")
    raise CliError(f"several ingest workers are running ({', '.join(sorted(running))}); choose one with --worker")


def _wait(client: Any, keys: Any, worker: str, done: Any, timeout: float) -> dict[str, Any] | None:
    from emostream.ingest.control import read_workers

    deadline = time.monotonic() + timeout
    while True:
        state = read_workers(client, keys).get(worker)
        if state is not None and done(state):
            return state
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.2)


def cmd_list(args: argparse.Namespace) -> int:
    from emostream.ingest.control import STALE_S, read_workers

    client, keys = _client_and_keys(args)
    workers = read_workers(client, keys)
    if args.json:
        print(json.dumps(workers, indent=2))
        return 0
    if not workers:
        print("no ingest worker has reported")
        return 0
    for name, state in sorted(workers.items()):
        seen = "running" if state["age_s"] < STALE_S else f"NOT SEEN for {state['age_s']:.0f} s"
        print(f"ingest worker {name} on {state.get('host', '?')} (pid {state.get('pid', '?')}): {seen}")
        if not state["sources"]:
            print("  (no sources)")
        for src in state["sources"]:
            extra = f"  session {src['session']}" if src.get("session") else ""
            error = f"  last error: {src['error']}" if src.get("error") else ""
            kind = "live" if src["live"] else "file"
            print(f"  {src['id']:<16} {src['state']:<10} {kind}  {src['origin']:<7} {src['url']}{extra}{error}")
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from emostream.config import SourceConfig
    from emostream.infra.redact import redact
    from emostream.ingest.control import read_workers, request_add

    fields: dict[str, Any] = {"id": args.id, "url": args.url, "fps": args.fps, "every_nth": args.every_nth,
                              "realtime": args.realtime, "loop": args.loop, "rtsp_transport": args.transport}
    if args.live is not None:
        fields["live"] = args.live
    if args.password_file:
        fields["password_file"] = args.password_file
    try:
        src = SourceConfig.model_validate(fields)
    except ValidationError as exc:
        raise CliError("invalid source: " + "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())) from None
    client, keys = _client_and_keys(args)
    worker = _target(args, read_workers(client, keys))
    state = read_workers(client, keys).get(worker)
    if state and any(s["id"] == src.id for s in state["sources"]) and not args.replace:
        raise CliError(f"worker {worker} already has a source {src.id!r}; use --replace to change it")
    request_add(client, keys, worker, src)
    def running(state: dict[str, Any]) -> bool:
        return any(s["id"] == src.id and s["url"] == redact(src.url) and s["state"] != "starting" for s in state["sources"])

    confirmed = _wait(client, keys, worker, running, args.wait)
    if confirmed is None:
        print(f"queued {src.id} for ingest worker {worker}; it did not confirm within {args.wait:g} s (is it running?)")
        return 0
    entry = next(s for s in confirmed["sources"] if s["id"] == src.id)
    print(f"added {src.id} ({redact(src.url)}) to ingest worker {worker}: {entry['state']}")
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    from emostream.ingest.control import read_workers, request_remove

    client, keys = _client_and_keys(args)
    worker = _target(args, read_workers(client, keys), args.id)
    request_remove(client, keys, worker, args.id)
    confirmed = _wait(client, keys, worker, lambda st: all(s["id"] != args.id for s in st["sources"]), args.wait)
    if confirmed is None:
        print(f"queued the removal of {args.id} for ingest worker {worker}; it did not confirm within {args.wait:g} s")
    else:
        print(f"removed {args.id} from ingest worker {worker}")
    return 0


def _run(func: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        from emostream.streams.errors import RedisUnavailable

        try:
            return int(func(args))
        except (CliError, RedisUnavailable) as exc:
            print(f"emostream sources: {exc}", file=sys.stderr)
            return 2

    return run


def register(subparsers: Any) -> dict[str, argparse.ArgumentParser]:
    """Add ``sources`` (with ``list``, ``add``, ``remove``) to the top-level ``emostream`` subparsers."""
    parser = subparsers.add_parser("sources", help="list, add and remove sources of running ingest workers", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="sources_command", required=True, metavar="ACTION")

    listing = sub.add_parser("list", help="each ingest worker and the state of its sources")
    listing.add_argument("--json", action="store_true", help="the raw state as JSON")
    listing.set_defaults(func=_run(cmd_list))

    add = sub.add_parser("add", help="add (or with --replace, change) a source of a running ingest worker")
    add.add_argument("id", help="source id (letters, digits, _ . -)")
    add.add_argument("url", help="file, rtsp://, http(s)://, /dev/videoN, webcam index or lavfi:GRAPH")
    add.add_argument("--worker", help="ingest worker name (default: the only one running)")
    add.add_argument("--fps", type=float, default=10.0, help="live: most frames analysed per second (default 10)")
    live = add.add_mutually_exclusive_group()
    live.add_argument("--live", dest="live", action="store_true", default=None, help="treat as live (default: guessed from the URL)")
    live.add_argument("--not-live", dest="live", action="store_false", help="treat as a file: analyse every frame")
    add.add_argument("--transport", choices=("tcp", "udp"), default="tcp", help="RTSP transport (default tcp)")
    add.add_argument("--every-nth", type=int, default=1, help="files: analyse every n-th frame")
    add.add_argument("--realtime", action="store_true", help="files: play at the clip's own pace")
    add.add_argument("--loop", action="store_true", help="files: start again at the end")
    add.add_argument("--password-file", help="file holding the camera password (the URL names the user)")
    add.add_argument("--replace", action="store_true", help="replace a source with the same id")
    add.add_argument("--wait", type=float, default=10.0, help="seconds to wait for the worker to confirm (default 10)")
    add.set_defaults(func=_run(cmd_add))

    remove = sub.add_parser("remove", help="stop a source of a running ingest worker (its session ends)")
    remove.add_argument("id", help="source id")
    remove.add_argument("--worker", help="ingest worker name (default: the one running that source)")
    remove.add_argument("--wait", type=float, default=10.0, help="seconds to wait for the worker to confirm (default 10)")
    remove.set_defaults(func=_run(cmd_remove))
    return {"sources": parser}
