#!/usr/bin/env bash
# Resume training runs where they stopped, with the options they were started with.
#
#   scripts/resume_run.sh [--foreground] [--threads N] RUN_FOLDER...
#
# For each RUN_FOLDER written by `emostream train` (run.json, state.json,
# last.keras), the script rebuilds the full `emostream train` command from
# run.json (every option spelled out: emostream.training.provenance.train_command)
# and starts it again; `emostream train` then loads last.keras (weights,
# optimizer and schedule position) and continues at the next epoch. A run
# whose state.json says it is done is left alone, and so is a run whose
# train.pid names a live process: two processes never train one folder.
#
# By default each run goes to the background under `nice -n 19` (a shared
# machine stays responsive), appending to RUN_FOLDER/train.log, its process id
# in RUN_FOLDER/train.pid; --foreground runs them one after another in this
# shell (what a GPU machine's job script wants). --threads (default 1) caps
# TensorFlow's CPU threads; 0 lets it use every core.
#
# The same command works in a later session, after a reboot, or on a device
# machine that carries the run folder: paths in run.json must exist there
# (start runs with absolute paths, or from the same working directory).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-.venv/bin/python}
export PYTHONPATH=${PYTHONPATH:-$PWD/src}
threads=1
foreground=0
folders=()
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads=$2; shift 2 ;;
    --foreground) foreground=1; shift ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) folders+=("$1"); shift ;;
  esac
done
[ ${#folders[@]} -gt 0 ] || { echo "usage: $0 [--foreground] [--threads N] RUN_FOLDER..." >&2; exit 2; }

status=0
for folder in "${folders[@]}"; do
  if [ ! -f "$folder/run.json" ]; then
    echo "$folder: no run.json, not a run folder of emostream train" >&2; status=2; continue
  fi
  if [ -f "$folder/train.pid" ] && kill -0 "$(cat "$folder/train.pid")" 2>/dev/null; then
    echo "$folder: already training (process $(cat "$folder/train.pid")); log $folder/train.log"; continue
  fi
  # One line: "done" or "resume", the epoch reached, then the command, shell-quoted.
  plan=$("$PYTHON" - "$folder" <<'EOF'
import json, shlex, sys
from pathlib import Path
from emostream.training.provenance import train_command
folder = Path(sys.argv[1])
run = json.loads((folder / "run.json").read_text())
state = json.loads((folder / "state.json").read_text()) if (folder / "state.json").is_file() else {}
cmd = [sys.executable, "-m", "emostream.training.cli", *train_command(run)[1:]]
print("done" if state.get("done") else "resume", state.get("epoch", 0), run.get("epochs"), shlex.join(cmd))
EOF
)
  read -r verdict epoch epochs command <<<"$plan"
  if [ "$verdict" = done ]; then
    echo "$folder: finished ($epoch of $epochs epochs); state.json holds its figures"; continue
  fi
  echo "$folder: resuming after epoch $epoch of $epochs"
  if [ "$foreground" = 1 ]; then
    eval "nice -n 19 $command --threads $threads" 2>&1 | tee -a "$folder/train.log" || status=1
  else
    eval "nohup nice -n 19 $command --threads $threads" >>"$folder/train.log" 2>&1 </dev/null &
    echo $! >"$folder/train.pid"
    echo "  process $!, log $folder/train.log"
  fi
done
exit $status
