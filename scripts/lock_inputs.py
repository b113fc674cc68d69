"""Print a digest of what the lock files are generated from: pyproject's dependencies and extras
and the tool requirements in requirements/*.in.

scripts/lock.sh writes it into each lock file's header; tests/test_lock.py
recomputes it, so a dependency added to pyproject.toml without running
scripts/lock.sh fails the suite instead of shipping an image that differs
from the tested environment.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tomllib
from pathlib import Path


def inputs_digest(pyproject: Path) -> str:
    project = tomllib.loads(pyproject.read_text())["project"]
    inputs = {
        "requires-python": project.get("requires-python", ""),
        "dependencies": sorted(project.get("dependencies", [])),
        "optional-dependencies": {k: sorted(v) for k, v in sorted(project.get("optional-dependencies", {}).items())},
        "tools": {p.name: p.read_text() for p in sorted((pyproject.parent / "requirements").glob("*.in"))},
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


if __name__ == "__main__":
    root = Path(__file__).resolve().parents[1]
    print(inputs_digest(Path(sys.argv[1]) if len(sys.argv) > 1 else root / "pyproject.toml"))
