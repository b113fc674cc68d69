"""Peak resident memory of a command, measured so that the test process's own size cannot leak into it.

Linux keeps a process's high-water RSS across ``exec``: a child forked (or vforked) from a
large pytest process starts with the parent's pages and reports them as its peak, so
``wait4`` on a direct child measures the test run, not the command. A small launcher
process forks the command instead; its own size is all that can leak in (~10 MB).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

LAUNCHER = """
import os, subprocess, sys
with open(sys.argv[1], "wb") as out, open(sys.argv[2], "wb") as err:
    proc = subprocess.Popen(sys.argv[3:], stdout=out, stderr=err)
_, status, usage = os.wait4(proc.pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)
"""


def run_with_peak(args: list[str], folder: Path, env: dict[str, str] | None = None, timeout: float = 600) -> tuple[int, float, str, str]:
    """Run ``args``; return (exit code, peak RSS in MiB, stdout, stderr)."""
    out, err = folder / "peak.stdout", folder / "peak.stderr"
    launched = subprocess.run([sys.executable, "-c", LAUNCHER, str(out), str(err), *args], env=env or dict(os.environ),
                              capture_output=True, text=True, timeout=timeout, check=True)
    code, peak_kib = (int(v) for v in launched.stdout.split())
    return code, peak_kib / 1024, out.read_text(), err.read_text()
