"""The ``analyze`` subcommand (and, later, the web view), registered on the top-level CLI."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    from emostream.viewer import analyze

    parser = subparsers.add_parser(
        "analyze",
        help="annotate images and videos with faces and emotions",
        description=analyze.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    analyze.add_arguments(parser)
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    import logging

    from emostream.viewer import analyze

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return analyze.main(args)
