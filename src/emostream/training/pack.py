"""``emostream pack-data``: write FER2013 and its FER+ votes as one compact ``.npz``.

The file (:mod:`emostream.training.table`) holds the 48x48 faces, the FER2013
labels, the Usage of each row and the FER+ vote counts. Every command that
takes ``--data`` reads it like the CSV, a couple of seconds instead of tens,
and it is small enough (57 MB for Training and PublicTest) to travel to a GPU
machine that has neither TensorFlow nor the CSV. PrivateTest is left out
unless ``--usage`` names it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from emostream.training.data import FER_USAGES
from emostream.training.table import load_table, write_npz


def add_arguments(parser: argparse.ArgumentParser) -> None:
    p = parser.add_argument
    p("--data", type=Path, required=True, help="fer2013.csv or fer2013.csv.gz")
    p("--ferplus", type=Path, help="fer2013new.csv with the FER+ votes, one row per FER2013 row")
    p("--out", type=Path, required=True, help="the .npz file to write")
    p(
        "--usage",
        nargs="+",
        choices=FER_USAGES,
        default=["Training", "PublicTest"],
        help="rows to keep (default: %(default)s; PrivateTest is held out)",
    )


def main(args: argparse.Namespace) -> int:
    if Path(args.out).suffix != ".npz":
        raise ValueError(f"--out must end in .npz, got {args.out}")
    table = load_table(args.data, args.ferplus)
    path = write_npz(table, args.out, tuple(args.usage))
    kept = int(np.isin(table.usages, args.usage).sum())
    votes = "with FER+ votes" if table.votes is not None else "without FER+ votes"
    print(f"wrote {path}: {kept} faces ({', '.join(args.usage)}) {votes}, {path.stat().st_size / 1e6:.1f} MB")
    return 0
