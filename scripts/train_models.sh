#!/usr/bin/env bash
# Reproduce the models emostream ships (docs/MODEL.md): two runs of the
# standard CNN on FER2013 Training from different seeds, selected on
# PublicTest, exported as `standard` (the first run) and `ensemble` (the mean
# of both, the default), each as float16-stored Keras (GPUs) and dynamic-range
# TFLite (CPUs) with flip TTA, and scored on PublicTest as served.
#
#   scripts/train_models.sh
#
# About 40 minutes per training run on two quiet CPU cores. Runs are
# resumable: after an interruption run the script again and each training
# continues from its last checkpoint (runs/<run>/last.keras); finished runs
# are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

DATA=${DATA:-../shared/data/fer2013/fer2013.csv.gz}
EMOSTREAM=${EMOSTREAM:-.venv/bin/emostream}
MODELS=src/emostream/assets/models
LICENSE="Apache-2.0 (weights trained by emostream). Trained on FER2013, whose images are for research use: check its terms before commercial use."

train() {  # run folder, seed
  "$EMOSTREAM" train --data "$DATA" --out "runs/$1" --architecture standard --epochs 60 --batch-size 128 --seed "$2"
}

export_model() {  # keras file, package folder name, card name, source
  "$EMOSTREAM" export --model "$1" --out "$MODELS/$2" --name "$3" --version 1.0.0 --formats keras tflite-dynamic --keras-dtype float16 --tta flip \
    --data "$DATA" --score "$DATA" --score-usage PublicTest --score-out "runs/eval-$2" \
    --license "$LICENSE" --source "$4" --force
}

train standard-fer2013 1337
train standard-seed2-fer2013 2027
"$EMOSTREAM" ensemble --member runs/standard-fer2013/best.keras --member runs/standard-seed2-fer2013/best.keras \
  --out runs/ensemble-fer2013 --force

export_model runs/standard-fer2013/best.keras standard standard-fer2013 "emostream: scripts/train_models.sh"
export_model runs/ensemble-fer2013/model.keras ensemble ensemble-fer2013 "emostream: scripts/train_models.sh (mean of two standard runs)"
