"""The lock files in requirements/ match pyproject.toml, and every installer uses them.

A dependency added to pyproject.toml without `scripts/lock.sh` (make lock) would
make images differ from what the suite ran against; these tests catch that
without a network: each lock carries a digest of pyproject's dependency lists,
written by scripts/lock.sh and recomputed here by the same script. pyproject
declares ranges (an application installing emostream resolves with its own
dependencies); the locks pin versions inside them.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

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


def direct_requirements(*groups: str) -> list[Requirement]:
    """pyproject's dependencies and the named extras, without the extras' references to the package itself."""
    specs = list(PROJECT["dependencies"]) + [s for g in groups for s in PROJECT["optional-dependencies"][g]]
    return [req for req in map(Requirement, specs) if norm(req.name) != "emostream"]


LOCK_GROUPS = [("dev", ("serve", "train", "dev")), ("cpu", ("serve",)), ("gpu", ("serve", "gpu")), ("client", ())]
RUNTIME = ("serve", "train", "gpu")


@pytest.mark.parametrize("name", ["dev", "cpu", "gpu", "client", "checkov"])
def test_each_lock_was_generated_from_the_current_pyproject(name: str) -> None:
    digest = subprocess.run([sys.executable, str(REPO / "scripts" / "lock_inputs.py")], capture_output=True, text=True, check=True)
    header = re.search(r"^# pyproject-inputs-sha256: (\w+)$", (LOCKS / f"{name}.lock").read_text(), re.M)
    assert header, f"requirements/{name}.lock has no inputs digest: regenerate it with scripts/lock.sh"
    assert header.group(1) == digest.stdout.strip(), f"requirements/{name}.lock is stale: pyproject.toml changed; run scripts/lock.sh (make lock)"


@pytest.mark.parametrize(("name", "groups"), LOCK_GROUPS)
def test_each_lock_pins_every_direct_dependency_inside_pyprojects_range(name: str, groups: tuple[str, ...]) -> None:
    lock = locked(name)
    wrong = {str(req): lock.get(norm(req.name)) for req in direct_requirements(*groups)
             if lock.get(norm(req.name)) is None or lock[norm(req.name)] not in req.specifier}
    assert not wrong, f"requirements/{name}.lock misses or pins outside pyproject.toml's range (wanted, locked): {wrong}"


def test_the_runtime_dependencies_are_ranges_not_pins() -> None:
    """`pip install emostream` into an application must not force exact versions on it."""
    pinned = [str(req) for req in direct_requirements(*RUNTIME) if any(spec.operator in ("==", "===") for spec in req.specifier)]
    assert not pinned, f"pyproject.toml pins runtime dependencies exactly (the locks pin; pyproject gives ranges): {pinned}"


def test_the_package_alone_is_the_client_and_the_roles_need_the_serve_extra() -> None:
    client = locked("client")
    heavy = {"av", "opencv-contrib-python", "mediapipe", "ai-edge-litert", "prometheus-client", "tensorflow", "matplotlib"}
    assert not heavy & set(client), f"the client lock holds the roles' dependencies: {sorted(heavy & set(client))}"
    assert {"redis", "pydantic", "numpy"} <= set(client), "the subscriber needs the Redis client, pydantic and numpy"
    assert heavy - {"tensorflow"} <= set(locked("cpu")), "the CPU lock (make run, the images) must hold the serve extra"


def test_checkov_has_a_lock_of_its_own_and_stays_out_of_the_dev_lock() -> None:
    """checkov pins packaging<24 and networkx<2.7, which pytest and scikit-image exclude (requirements/checkov.in)."""
    assert "checkov" in locked("checkov") and "checkov" not in locked("dev")


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
    assert "LOCK   := requirements/dev.lock" in makefile and "--require-hashes -r $(LOCK)" in makefile, "make test must install the dev lock"
    assert "RUN_LOCK   := requirements/cpu.lock" in makefile and "--require-hashes -r $(RUN_LOCK)" in makefile, "make run must install the CPU lock"
    assert re.search(r"^run: \$\(RUN_STAMP\)$", makefile, re.M), "make run must depend on the CPU lock's stamp only"
    assert "--require-hashes -r requirements/checkov.lock" in makefile, "make test must install checkov from its lock"
    assert "--no-deps -e ." in makefile, "emostream itself is installed without resolving again"
    assert "make test" in (REPO / ".ci" / "run").read_text(), "CI installs through make test"
    for dockerfile, lock in (("Dockerfile", "cpu.lock"), ("Dockerfile.gpu", "gpu.lock")):
        text = (REPO / "ops" / "docker" / dockerfile).read_text()
        assert f"COPY requirements/{lock}" in text and f"--require-hashes -r /tmp/{lock}" in text, f"{dockerfile} must install {lock}"
        assert re.search(r"--no-deps /tmp/wheels/emostream-\*\.whl", text), f"{dockerfile} must install the wheel without its own resolution"


@pytest.mark.parametrize("name", ["cpu", "gpu", "client"])
def test_the_image_locks_run_the_versions_the_suite_ran(name: str) -> None:
    dev, image = locked("dev"), locked(name)
    differ = {pkg: (version, dev[pkg]) for pkg, version in image.items() if pkg in dev and dev[pkg] != version}
    assert not differ, f"requirements/{name}.lock and dev.lock pin different versions ({name}, dev): {differ}"
