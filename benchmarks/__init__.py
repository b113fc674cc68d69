"""Benchmarks: ``python -m benchmarks`` (``make bench``) writes docs/BENCHMARKS.md.

They live beside ``src/`` rather than inside the package, so the wheel users
install carries no measuring code; they are run from a checkout. Each section
is a module with ``run(quick: bool) -> str`` returning a markdown section;
:mod:`benchmarks.__main__` runs them, notes the machine and its load while each
ran, and assembles the page.
"""

from pathlib import Path

#: The repository root: reports default to files under it, wherever the command runs.
ROOT = Path(__file__).resolve().parents[1]
