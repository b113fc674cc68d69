#!/usr/bin/env bash
# Reproduce the models emostream ships (docs/MODEL.md).
#
# 1. `fast` (FER+): the compact data file, one run of the fast CNN on FER+
#    soft targets selected on FER+ Valid, exported as float32 TFLite (CPUs
#    without fast int8 dot products), dynamic-range TFLite (CPUs with them)
#    and float16-stored Keras, scored as served on FER+ Valid and PublicTest.
# 2. `standard` and `ensemble` (FER2013 labels): two runs of the
# standard CNN on FER2013 Training from different seeds, selected on
# PublicTest, exported as `standard` (the first run) and `ensemble` (the mean
# of both, the default), each as float16-stored Keras (GPUs) and dynamic-range
# TFLite (CPUs) with flip TTA, and scored on PublicTest as served.
#
#   scripts/train_models.sh
#
# About 40 minutes per FER2013-label run and 20-25 minutes per `fast` run on two
# quiet CPU cores. Runs are
# resumable: after an interruption run the script again and each training
# continues from its last checkpoint (runs/<run>/last.keras); finished runs
# are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

DATA=${DATA:-../shared/data/fer2013/fer2013.csv.gz}
FERPLUS=${FERPLUS:-../shared/data/fer2013/fer2013new.csv}
PACKED=${PACKED:-runs/data/fer2013-ferplus.npz}
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

# --- fast, trained on FER+ -------------------------------------------------
[ -f "$PACKED" ] || "$EMOSTREAM" pack-data --data "$DATA" --ferplus "$FERPLUS" --out "$PACKED"
# Short epochs (110 batches, a fresh random draw each) checkpoint often on a busy CPU; 16 of them are
# about four passes over the data. `nice` keeps a shared machine responsive; the run resumes when rerun.
nice -n 19 "$EMOSTREAM" train --data "$PACKED" --labels ferplus-soft --architecture fast --out runs/fast-ferplus \
  --epochs 16 --steps-per-epoch 110 --warmup-epochs 1 --batch-size 64 --learning-rate 2e-3 --label-smoothing 0 \
  --erasing 0.25 --patience 0 --seed 1337 --threads 1
# A second cosine cycle from the first run's best weights (warm restart), another five passes.
nice -n 19 "$EMOSTREAM" train --data "$PACKED" --labels ferplus-soft --architecture fast --out runs/fast-ferplus-2 \
  --init-from runs/fast-ferplus/best.keras --epochs 20 --steps-per-epoch 110 --warmup-epochs 1 --batch-size 64 \
  --learning-rate 1e-3 --label-smoothing 0 --erasing 0.25 --patience 0 --seed 2027 --threads 1
"$EMOSTREAM" export --model runs/fast-ferplus-2/best.keras --out "$MODELS/fast" --name fast-ferplus --version 1.0.0 \
  --formats keras tflite-float32 tflite-dynamic --serve-tflite float32 --keras-dtype float16 --tta flip \
  --data "$PACKED" --score "$PACKED" --score-usage PublicTest --score-out runs/eval-fast \
  --license "$LICENSE FER+ labels: MIT (Microsoft)." --source "emostream: scripts/train_models.sh (FER+ soft targets)" --force

# --- standard and ensemble, trained on FER2013 labels ------------------------
train standard-fer2013 1337
train standard-seed2-fer2013 2027
"$EMOSTREAM" ensemble --member runs/standard-fer2013/best.keras --member runs/standard-seed2-fer2013/best.keras \
  --out runs/ensemble-fer2013 --force

export_model runs/standard-fer2013/best.keras standard standard-fer2013 "emostream: scripts/train_models.sh"
export_model runs/ensemble-fer2013/model.keras ensemble ensemble-fer2013 "emostream: scripts/train_models.sh (mean of two standard runs)"
