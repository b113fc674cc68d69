"""The command line as a user first meets it: `--version` and each command's help."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys

import pytest

from emostream.cli import build_parser
from emostream.infra.buildinfo import UNKNOWN_VERSION, package_version


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_version_prints_the_installed_package_version() -> None:
    result = subprocess.run([sys.executable, "-m", "emostream", "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"emostream {package_version()}"
    assert package_version() != UNKNOWN_VERSION, "the test environment installs emostream (editable), so its metadata names a version"


@pytest.mark.parametrize("name", sorted(subcommands()))
def test_every_command_has_a_plain_description_for_users(name: str) -> None:
    description = subcommands()[name].description or ""
    assert len(description) >= 40, f"emostream {name} --help has no description: {description!r}"
    assert "`" not in description and ":mod:" not in description and ":class:" not in description, f"markup in {name}: {description!r}"
    assert not re.search(r"\bimport(ed|s)?\b|docstring|\bmodule\b", description), f"a developer note in {name}: {description!r}"
    assert len(description) <= 300, f"emostream {name}: a line or two, not {len(description)} characters"


def test_help_shows_the_description() -> None:
    result = subprocess.run([sys.executable, "-m", "emostream", "aggregate", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "session summaries" in result.stdout, result.stdout
