"""The ``train``, ``evaluate``, ``ensemble``, ``export`` and ``pack-data`` subcommands, for the top-level ``emostream`` CLI.

``register`` adds them to an argparse subparsers object; each parsed namespace
carries ``func(args) -> int``. ``python -m emostream.training.cli`` runs them
stand-alone.
"""

from __future__ import annotations

import argparse
import functools
import logging
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from emostream.infra.modelcard import ModelCardError
from emostream.training.data import DataError

log = logging.getLogger(__name__)

# Errors that describe bad input (a malformed row, a missing file, a refused
# option): the user gets one line naming the problem, not a traceback.
USER_ERRORS = (DataError, ModelCardError, FileNotFoundError, FileExistsError, ValueError)


def _commands() -> list[tuple[str, ModuleType]]:
    # These modules import TensorFlow only inside functions, so registering
    # them keeps every `emostream` command quick to start.
    from emostream.training import ensemble, evalcli, export, pack, train

    return [("train", train), ("evaluate", evalcli), ("ensemble", ensemble), ("export", export), ("pack-data", pack)]


def _entry(name: str, main: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """``main`` with logging set up (unless the caller already did) and input errors as one line."""

    @functools.wraps(main)
    def run(args: argparse.Namespace) -> int:
        if not logging.getLogger().handlers:
            level = getattr(args, "log_level", None) or "INFO"
            logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        try:
            return int(main(args))
        except USER_ERRORS as exc:
            log.debug("emostream %s failed", name, exc_info=True)
            print(f"emostream {name}: error: {exc}", file=sys.stderr)
            return 2

    return run


def register(subparsers: Any) -> dict[str, argparse.ArgumentParser]:
    """Add ``train``, ``evaluate``, ``ensemble`` and ``export`` to ``subparsers`` (from ``add_subparsers``).

    Each subparser's description is its module's docstring, and its ``func``
    default runs that module's ``main`` (reachable as ``func.__wrapped__``).
    Returns the new parsers by name.
    """
    parsers = {}
    for name, module in _commands():
        doc = (module.__doc__ or "").strip()
        summary = doc.splitlines()[0].split(":", 1)[-1].strip().rstrip(".") if doc else name
        parser = subparsers.add_parser(name, help=summary, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(parser)
        parser.set_defaults(func=_entry(name, module.main))
        parsers[name] = parser
    return parsers


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="emostream", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    register(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
