"""checkov over ops/: every misconfiguration it finds is fixed or justified in a baseline.

checkov (requirements/checkov.lock, installed by `make test` into a venv of its own
and linked as .venv/bin/checkov) scans the Kubernetes manifests and the Dockerfiles,
and its secrets scanner every file under ops/ (compose files included: checkov has
no compose policies; docker-compose config and hadolint run in test_ops_tools.py).
ops/checkov-baseline.txt lists what stays, each with its reason; a new finding
fails, and so does a baseline line that matches nothing any more, so the file
never outlives the problems it excuses.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.support.tools import tool

REPO = Path(__file__).resolve().parents[1]
BASELINE = REPO / "ops" / "checkov-baseline.txt"
FRAMEWORKS = ("kubernetes", "dockerfile", "secrets")


def baseline() -> dict[str, str]:
    """'CHECK FILE RESOURCE' -> reason, from ops/checkov-baseline.txt."""
    entries = {}
    for number, line in enumerate(BASELINE.read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        finding, _, reason = line.partition("#")
        key = " ".join(finding.split())
        assert len(key.split()) == 3, f"checkov-baseline.txt:{number}: want CHECK_ID FILE RESOURCE # reason, got {line!r}"
        assert len(reason.split()) >= 5, f"checkov-baseline.txt:{number}: {key} needs a reason"
        assert key not in entries, f"checkov-baseline.txt:{number}: {key} is listed twice"
        entries[key] = reason.strip()
    return entries


def ops_path(checkov_path: str) -> str:
    """checkov names files relative to a root it guesses (/docker/Dockerfile, /ops/k8s/x.yaml): make them ops/...

    (Dockerfile resources carry the same path, /docker/Dockerfile.FROM: the test keeps their last part.)
    """
    path = checkov_path.lstrip("/")
    return path if path.startswith("ops/") else f"ops/{path}"


def scan() -> list[dict]:
    checkov = tool("checkov", "requirements/checkov.lock")
    proc = subprocess.run(
        [checkov, "--directory", "ops", "--framework", *FRAMEWORKS, "--skip-download", "--quiet", "--compact", "--output", "json"],
        capture_output=True, text=True, timeout=300, cwd=REPO,
    )
    assert proc.returncode in (0, 1), f"checkov failed to run ({proc.returncode}): {proc.stderr[-2000:]}"
    reports = json.loads(proc.stdout)
    return reports if isinstance(reports, list) else [reports]


def test_checkov_finds_nothing_in_ops_beyond_the_justified_baseline() -> None:
    reports = scan()
    by_type = {r["check_type"]: r for r in reports}
    for kind in ("kubernetes", "dockerfile"):
        assert kind in by_type, f"checkov reported nothing for {kind}: did it find the files?"
        summary = by_type[kind]["summary"]
        assert summary["parsing_errors"] == 0, f"checkov could not parse some {kind} files: {summary}"
        assert summary["passed"] > 0, f"checkov ran no {kind} check: {summary}"
    found = {
        f"{f['check_id']} {ops_path(f['file_path'])} {f['resource'].rsplit('/', 1)[-1]}": f["check_name"]
        for report in reports for f in report["results"]["failed_checks"]
    }
    justified = baseline()
    new = {key: name for key, name in found.items() if key not in justified}
    assert not new, f"checkov findings to fix, or to justify in ops/checkov-baseline.txt: {new}"
    stale = sorted(set(justified) - set(found))
    assert not stale, f"ops/checkov-baseline.txt excuses findings checkov no longer reports (remove them): {stale}"
