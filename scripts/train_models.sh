#!/usr/bin/env bash
# Reproduce the models emostream ships (docs/MODEL.md).
#
# 1. FER+ (the annotators' votes as soft targets, selected on FER+ Valid):
#    - `fast` network, 120 epochs, and `standard` network, 40 epochs, trained
#      side by side on one thread each;
#    - each fine-tuned for eight epochs through a simulated camera;
#    - `fast` (the default): the fast network on its own, exported as float32
#      TFLite, dynamic-range TFLite and float16-stored Keras;
#    - `accurate`: the mean of the two, flip TTA, exported as float16-stored
#      Keras (GPUs), fp16 TFLite (CPUs without fast int8 dot products) and
#      dynamic-range TFLite (CPUs with them).
# 2. `standard` and `ensemble` (FER2013 labels): two runs of the standard CNN
#    on FER2013 Training from different seeds, selected on PublicTest.
# Every model is scored as served on FER+ Valid and PublicTest by the export.
#
# These are the commands that made the shipped models, which chose their best
# epochs on FER+ Valid. New runs select on a holdout of Training instead
# (`--holdout 0.1`, docs/MODEL.md, issue 28), and scripts/resume_run.sh
# continues any run folder where it stopped.
#
#   scripts/train_models.sh
#
# On two quiet CPU cores: about 75 minutes for the two FER+ runs side by side
# and 40 per FER2013-label run. Runs are resumable:
# after an interruption run the script again and each training continues from
# its last checkpoint (runs/<run>/last.keras); finished runs are skipped.
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

# --- accurate and fast, trained on FER+ ------------------------------------
[ -f "$PACKED" ] || "$EMOSTREAM" pack-data --data "$DATA" --ferplus "$FERPLUS" --out "$PACKED"
FERPLUS_RUN=(--data "$PACKED" --labels ferplus-soft --warmup-epochs 2 --batch-size 128 --label-smoothing 0 --patience 0 --threads 1)
# The two networks of the accurate model, one thread each, side by side (`nice` keeps a shared machine responsive).
nice -n 10 "$EMOSTREAM" train "${FERPLUS_RUN[@]}" --architecture fast --out runs/fast-long \
  --epochs 120 --learning-rate 2e-3 --erasing 0.25 --seed 1337 &
fast_run=$!
nice -n 10 "$EMOSTREAM" train "${FERPLUS_RUN[@]}" --architecture standard --out runs/standard-ferplus \
  --epochs 40 --learning-rate 1e-3 --erasing 0.3 --seed 2027 &
standard_run=$!
wait "$fast_run"  # waiting on each by its id, so that a failed run stops the script (set -e)
wait "$standard_run"
# The default: the fast network on its own (distilling it from the accurate model did not pay here: docs/MODEL.md),
# fine-tuned for eight epochs through a simulated camera (docs/MODEL.md, "Faces as cameras give them"), priors at the
# tau chosen on the holdout.
"$EMOSTREAM" train --data "$PACKED" --labels ferplus-soft --architecture fast --init-from runs/fast-long/best.keras \
  --out runs/fast-camera --epochs 8 --warmup-epochs 0 --batch-size 128 --learning-rate 1e-4 --lr-schedule cosine \
  --label-smoothing 0 --erasing 0.25 --patience 0 --seed 1337 --threads 2 --holdout 0.1 --camera 0.5
"$EMOSTREAM" export --model runs/fast-camera/best.keras --out "$MODELS/fast" --name fast-ferplus --version 1.2.0 \
  --formats keras tflite-float32 tflite-dynamic --serve-tflite float32 --keras-dtype float16 --tta flip --prior-tau 0.15 \
  --data "$PACKED" --score "$PACKED" --score-usage PublicTest --score-out runs/eval-fast \
  --license "$LICENSE FER+ labels: MIT (Microsoft)." \
  --source "emostream: scripts/train_models.sh (FER+ soft targets; fine-tuned through a simulated camera)" --force
# accurate: the standard network fine-tuned through the camera the same way, averaged with the camera-tuned fast one
# (docs/MODEL.md, "accurate 1.1.0").
"$EMOSTREAM" train --data "$PACKED" --labels ferplus-soft --architecture standard --init-from runs/standard-ferplus/best.keras \
  --out runs/standard-camera --epochs 8 --warmup-epochs 0 --batch-size 128 --learning-rate 1e-4 --lr-schedule cosine \
  --label-smoothing 0 --erasing 0.3 --patience 0 --seed 2027 --threads 2 --holdout 0.1 --camera 0.5
"$EMOSTREAM" ensemble --member runs/standard-camera/best.keras --member runs/fast-camera/best.keras --out runs/accurate-camera --force
"$EMOSTREAM" export --model runs/accurate-camera/model.keras --out "$MODELS/accurate" --name accurate-ferplus --version 1.1.0 \
  --formats keras tflite-fp16 tflite-dynamic --serve-tflite fp16 --keras-dtype float16 --tta flip \
  --data "$PACKED" --score "$PACKED" --score-usage PublicTest --score-out runs/eval-accurate \
  --license "$LICENSE FER+ labels: MIT (Microsoft)." \
  --source "emostream: scripts/train_models.sh (mean of a standard and a fast network, FER+ soft targets, each fine-tuned through a simulated camera)" --force

# --- standard and ensemble, trained on FER2013 labels ------------------------
train standard-fer2013 1337
train standard-seed2-fer2013 2027
"$EMOSTREAM" ensemble --member runs/standard-fer2013/best.keras --member runs/standard-seed2-fer2013/best.keras \
  --out runs/ensemble-fer2013 --force

export_model runs/standard-fer2013/best.keras standard standard-fer2013 "emostream: scripts/train_models.sh"
export_model runs/ensemble-fer2013/model.keras ensemble ensemble-fer2013 "emostream: scripts/train_models.sh (mean of two standard runs)"
