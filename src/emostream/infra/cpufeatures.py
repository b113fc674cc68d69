"""What the CPU can do fast, read from ``/proc/cpuinfo``, for choosing between model files.

A dynamic-range int8 TFLite model is only fast where the CPU has int8 dot-product
instructions: x86 AVX-512 VNNI, AVX-VNNI or AMX, Arm's dot-product extension.
Without them XNNPACK emulates the int8 maths and such a model runs 4-5 times
slower than it does with them, slower than the float32 model it was made from
(docs/BENCHMARKS.md). Where the flags cannot be read (not Linux, a sandbox)
the answer is "no fast int8": the float path is never a bad choice, only a
smaller one. And how many cores this process may use (:func:`usable_cores`),
for whatever sizes itself to the machine.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")

# Flags of instructions that multiply-add int8 vectors in one step, as Linux names them.
FAST_INT8_FLAGS = frozenset(
    {
        "avx512_vnni",  # AVX-512 VNNI (Intel Cascade Lake and later, AMD Zen 4 and later)
        "avx_vnni",  # AVX-VNNI (Intel Alder Lake and later, AMD Zen 5)
        "amx_int8",  # AMX (Intel Sapphire Rapids and later)
        "asimddp",  # Arm dot product (ARMv8.2+, e.g. Graviton 2 and later)
        "i8mm",  # Arm int8 matrix multiply (ARMv8.6+)
    }
)


def cpu_flags(cpuinfo: Path = CPUINFO) -> frozenset[str]:
    """The feature flags of the first CPU listed (``flags`` on x86, ``Features`` on Arm); empty if unreadable."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() in ("flags", "features"):
            return frozenset(value.split())
    return frozenset()


def fast_int8(flags: frozenset[str] | None = None) -> bool:
    """Whether int8 dot products are fast on this CPU (or on one with ``flags``)."""
    return bool((cpu_flags() if flags is None else flags) & FAST_INT8_FLAGS)


def describe(flags: frozenset[str] | None = None) -> str:
    """One line for logs and benchmarks: the SIMD flags that matter for inference."""
    flags = cpu_flags() if flags is None else flags
    relevant = sorted(f for f in flags if f.startswith(("avx", "amx", "fma", "asimd", "sve", "i8mm")) or f in FAST_INT8_FLAGS)
    verdict = "fast int8 dot products" if fast_int8(flags) else "no fast int8 dot products"
    return f"{verdict} ({' '.join(relevant) or 'no SIMD flags read'})"


def usable_cores(cpu_max: Path = Path("/sys/fs/cgroup/cpu.max")) -> int:
    """Cores this process may run on: its CPU affinity, less where a cgroup's quota (a container's CPU limit) allows fewer."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        quota, period = cpu_max.read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):  # no cgroup v2 here: the affinity alone
        pass
    return cores
