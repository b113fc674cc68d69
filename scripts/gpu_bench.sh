#!/usr/bin/env bash
# GPU benchmark of one classifier replica (issue #13): faces/s end to end through
# Redis and model-only faces/s, per Keras backend, precision and batch_max
# (benchmarks/gpu.py). Writes results.json and results.md to $OUT (the device
# machine's result folder) or gpu-bench/.
#
# Usage, from anywhere:  scripts/gpu_bench.sh [options of python -m benchmarks.gpu]
#   default here: --faces 200000 --batches 4096 --precisions float32,mixed --seconds 5,
#   on every backend installed (--backends jax to keep to one). Each configuration
#   starts two processes that load the model and compile its batch shapes (about a
#   minute on an H200 under JAX), then drains the faces: plan ~2 minutes a
#   configuration and run it under `timeout` with room for a second try.
# Environment: PYTHON (default python3); GPU_WHEELS (default .gpu-wheels) the carried wheels.
#
# On a GPU host without the replica's dependencies (JAX or PyTorch, no TensorFlow,
# no network): carry .gpu-wheels/ (made by scripts/gpu_wheels.sh, under 64 MiB);
# they are installed here, once, into .gpu-wheels/site-<python> and put on PYTHONPATH.
# On a CPU the same command runs too (use a small --faces); mixed precision then
# falls back to float32 and its rows are left out.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
RESULTS=${OUT:-gpu-bench}

WHEELS=${GPU_WHEELS:-.gpu-wheels}

paths="$PWD:$PWD/src"
if [[ -d "$WHEELS" ]]; then
    tag=$("$PYTHON" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
    site=$(realpath "$WHEELS")/site-$tag
    if [[ ! -d "$site" ]]; then
        wheels=("$WHEELS"/*-py3-none-*.whl "$WHEELS"/*-"$tag"-*.whl)
        "$PYTHON" -m pip install --quiet --no-index --no-deps --target "$site" "${wheels[@]}"
    fi
    paths="$paths:$site"
fi
export PYTHONPATH="$paths${PYTHONPATH:+:$PYTHONPATH}"
export TF_CPP_MIN_LOG_LEVEL=2

mkdir -p "$RESULTS"
if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$RESULTS/gpu.txt"
fi
exec "$PYTHON" -m benchmarks.gpu --faces 200000 --batches 4096 --precisions float32,mixed --seconds 5 --out "$RESULTS" "$@"
