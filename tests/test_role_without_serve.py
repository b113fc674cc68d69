"""A role started from a client-only install (the package without the serve extra) fails in one line that says what to install.

The client install lacks the serve extra's packages; a ``sitecustomize`` on
PYTHONPATH makes their imports fail in the child process, as they would there.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from emostream.cli import SERVE_MODULES

REPO = Path(__file__).resolve().parents[1]


def emostream(args: list[str], blocked: tuple[str, ...], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(f"import sys\nfor name in {blocked!r}:\n    sys.modules[name] = None  # import fails\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMOSTREAM_")}
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(REPO / "src")])
    env["EMOSTREAM_REDIS__URL"] = "redis://127.0.0.1:1"  # never reached: the imports fail first
    return subprocess.run([sys.executable, "-m", "emostream", *args], env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)


def test_the_blocking_works(tmp_path: Path) -> None:
    """The control: in such a child, the serve packages cannot be imported."""
    result = emostream(["--version"], ("prometheus_client",), tmp_path)
    assert result.returncode == 0, result.stderr
    probe = subprocess.run(
        [sys.executable, "-c", "import prometheus_client"], env={**os.environ, "PYTHONPATH": str(tmp_path / "site")}, capture_output=True, text=True
    )
    assert probe.returncode != 0 and "ModuleNotFoundError" in probe.stderr, probe.stderr


@pytest.mark.parametrize(
    ("args", "blocked"),
    [
        (["ingest", "--source", "cam=clip.mp4"], tuple(sorted(SERVE_MODULES))),
        (["classify"], tuple(sorted(SERVE_MODULES))),
        (["aggregate"], tuple(sorted(SERVE_MODULES))),
        (["run", "--quiet"], tuple(sorted(SERVE_MODULES))),
        (["ingest", "--source", "cam=clip.mp4"], ("cv2", "av")),  # prometheus_client there, the decoders not
    ],
    ids=["ingest", "classify", "aggregate", "run", "ingest-without-decoders"],
)
def test_a_role_without_the_serve_extra_says_what_to_install(args: list[str], blocked: tuple[str, ...], tmp_path: Path) -> None:
    result = emostream(args, blocked, tmp_path)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, f"exit {result.returncode}: {result.stderr[-2000:]}"
    assert "Traceback" not in result.stderr and len(lines) == 1, result.stderr[-2000:]
    assert lines[0].startswith(f"emostream {args[0]}: needs ") and "pip install 'emostream[serve]'" in lines[0], lines


def test_the_client_commands_still_work_without_the_serve_extra(tmp_path: Path) -> None:
    blocked = tuple(sorted(SERVE_MODULES))
    assert emostream(["--version"], blocked, tmp_path).stdout.startswith("emostream ")
    assert "--follow" in emostream(["events", "--help"], blocked, tmp_path).stdout
