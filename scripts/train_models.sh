#!/usr/bin/env bash
# Reproduce the models emostream ships: train on FER2013 Training, select and
# score on PublicTest, export into the package. See docs/MODEL.md.
#
#   scripts/train_models.sh [standard|compact ...]      (default: both)
#
# About 45 minutes for standard and 15 for compact on two CPU cores. Runs are
# resumable: run the script again after an interruption and each training
# continues from its last checkpoint (runs/<name>-fer2013/last.keras).
set -euo pipefail
cd "$(dirname "$0")/.."

DATA=${DATA:-../shared/data/fer2013/fer2013.csv.gz}
EMOSTREAM=${EMOSTREAM:-.venv/bin/emostream}
LICENSE="Apache-2.0 (weights trained by emostream). Trained on FER2013, whose images are for research use: check its terms before commercial use."

epochs() { case $1 in standard) echo 60 ;; compact) echo 40 ;; esac; }

for arch in "${@:-standard compact}"; do
  for name in $arch; do
    run=runs/$name-fer2013
    "$EMOSTREAM" train --data "$DATA" --out "$run" --architecture "$name" --epochs "$(epochs "$name")" --batch-size 128
    "$EMOSTREAM" evaluate --model "$run/best.keras" --data "$DATA" --usage PublicTest --tta --out "$run/eval"
    "$EMOSTREAM" export --model "$run/best.keras" --out "src/emostream/assets/models/$name" --name "$name-fer2013" --version 1.0.0 \
      --formats keras tflite-fp16 --tta flip --report "$run/eval/report.json" --license "$LICENSE" \
      --source "emostream train, scripts/train_models.sh ($name)" --force
  done
done
