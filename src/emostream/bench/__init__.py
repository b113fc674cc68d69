"""Benchmarks: ``python -m emostream.bench`` (``make bench``) writes docs/BENCHMARKS.md.

Each section is a module with ``run(quick: bool) -> str`` returning a markdown
section; :mod:`emostream.bench.__main__` runs them, notes the machine and its
load while each ran, and assembles the page.
"""
