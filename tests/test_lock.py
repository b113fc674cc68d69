"""The lock files in requirements/ match pyproject.toml, and every installer uses them.

A dependency added to pyproject.toml without `scripts/lock.sh` (make lock) would
make images differ from what the suite ran against; these tests catch that
without a network: each lock carries a digest of pyproject's dependency lists,
written by scripts/lock.sh and recomputed here by the same script.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LOCKS = REPO / "requirements"
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
PIN = re.compile(r"^([A-Za-z0-9_.-]+)(?:\[[^]]*\])?==(\S+)")


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked(name: str) -> dict[str, str]:
    """Package -> version of requirements/NAME.lock."""
    pins = {}
    for line in (LOCKS / f"{name}.lock").read_text().splitlines():
        match = PIN.match(line)
        if match:
            pins[norm(match.group(1))] = match.group(2)
    return pins


def direct_pins(*groups: str) -> dict[str, str]:
    """The ``name==version`` pins of pyproject's dependencies and the named extras."""
    specs = list(PROJECT["dependencies"]) + [s for g in groups for s in PROJECT["optional-dependencies"][g]]
    pins = {}
    for spec in specs:
        match = PIN.match(spec.replace(" ", ""))
        assert match, f"pyproject.toml: {spec!r} is not pinned with =="
        pins[norm(match.group(1))] = match.group(2)
    return pins


@pytest.mark.parametrize("name", ["dev", "cpu", "gpu"])
def test_each_lock_was_generated_from_the_current_pyproject(name: str) -> None:
    digest = subprocess.run([sys.executable, str(REPO / "scripts" / "lock_inputs.py")], capture_output=True, text=True, check=True)
    header = re.search(r"^# pyproject-inputs-sha256: (\w+)$", (LOCKS / f"{name}.lock").read_text(), re.M)
    assert header, f"requirements/{name}.lock has no inputs digest: regenerate it with scripts/lock.sh"
    assert header.group(1) == digest.stdout.strip(), f"requirements/{name}.lock is stale: pyproject.toml changed; run scripts/lock.sh (make lock)"


@pytest.mark.parametrize(("name", "groups"), [("dev", ("train", "dev")), ("cpu", ()), ("gpu", ("gpu",))])
def test_each_lock_pins_the_direct_dependencies_at_pyprojects_versions(name: str, groups: tuple[str, ...]) -> None:
    pins, lock = direct_pins(*groups), locked(name)
    wrong = {pkg: (version, lock.get(pkg)) for pkg, version in pins.items() if lock.get(pkg) != version}
    assert not wrong, f"requirements/{name}.lock disagrees with pyproject.toml (wanted, locked): {wrong}"


def test_every_locked_package_has_a_hash() -> None:
    for lock in LOCKS.glob("*.lock"):
        blocks = re.split(r"\n(?=[A-Za-z0-9])", lock.read_text())
        unhashed = [b.split()[0] for b in blocks if PIN.match(b) and "--hash=sha256:" not in b]
        assert not unhashed, f"{lock.name}: no hash for {unhashed}"


def test_the_serving_lock_has_no_tensorflow_and_the_others_do() -> None:
    assert "tensorflow" not in locked("cpu"), "the CPU image must not carry TensorFlow: the serving roles do not load it"
    assert "tensorflow" in locked("dev") and "tensorflow" in locked("gpu")
    assert any(pkg.startswith("nvidia-") for pkg in locked("gpu")), "the GPU lock needs the CUDA wheels of tensorflow[and-cuda]"


def test_make_the_dockerfiles_and_ci_install_from_the_locks() -> None:
    makefile = (REPO / "Makefile").read_text()
    assert "LOCK   := requirements/dev.lock" in makefile and "--require-hashes -r $(LOCK)" in makefile, "make venv must install the lock"
    assert "--no-deps -e ." in makefile, "emostream itself is installed without resolving again"
    assert "make test" in (REPO / ".ci" / "run").read_text(), "CI installs through make test"
    for dockerfile, lock in (("Dockerfile", "cpu.lock"), ("Dockerfile.gpu", "gpu.lock")):
        text = (REPO / "ops" / "docker" / dockerfile).read_text()
        assert f"COPY requirements/{lock}" in text and f"--require-hashes -r /tmp/{lock}" in text, f"{dockerfile} must install {lock}"
        assert re.search(r"--no-deps /tmp/wheels/emostream-\*\.whl", text), f"{dockerfile} must install the wheel without its own resolution"


@pytest.mark.parametrize("name", ["cpu", "gpu"])
def test_the_image_locks_run_the_versions_the_suite_ran(name: str) -> None:
    dev, image = locked("dev"), locked(name)
    differ = {pkg: (version, dev[pkg]) for pkg, version in image.items() if pkg in dev and dev[pkg] != version}
    assert not differ, f"requirements/{name}.lock and dev.lock pin different versions ({name}, dev): {differ}"
