"""Finding the command-line tools the ops tests run (kubectl, hadolint, checkov, ...).

The dev lock installs them as wheels into the virtual environment, whose ``bin/`` is
not on PATH when the suite runs as ``.venv/bin/python -m pytest``; so a tool is
looked up on PATH first, then beside the running interpreter. One lookup for every
test, so no test skips for a tool that another one finds.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest


def find_tool(name: str) -> str | None:
    """The path of ``name`` on PATH or in this interpreter's ``bin/``, else None."""
    return shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))


def tool(name: str, package: str) -> str:
    """The path of ``name``; skip the calling test, saying how to install it, when it is missing."""
    found = find_tool(name)
    if found is None:
        pytest.skip(f"{name} is not installed ({package}; `make test` installs it)")
    return found
