#!/usr/bin/env bash
# Short, fixed zero-shot protocol (issue 21): synthesise pages with one
# generator, pretrain ResNet-11 on them only, evaluate on every real scan.
# The same command with two binaries compares two generators; only the
# binary differs. Not the main job (250 pages/class, 16 epochs): a reduced
# protocol that fits a loaded 2-core machine.
#
#   bench/finetune/zeroshot.sh ECGCNN OUT_DIR [REAL_DIR]
#
# Environment: PER (pages per class, 120), EPOCHS (8), SIZE (128),
# DATA_SEED (synth --seed, 7), TRAIN_SEED (train --seed, 1), THREADS (2).
# Writes OUT_DIR/{eval_synth.txt,eval_real.txt,eval_real.json,train.log}.
set -euo pipefail
if [ $# -lt 2 ]; then
  sed -n '2,12p' "$0"
  exit 2
fi
E=$(realpath "$1")
OUT=$2
REAL=${3:-$(cd "$(dirname "$0")/../.." && pwd)/tests/data/real-scans}
PER=${PER:-120}
EPOCHS=${EPOCHS:-8}
SIZE=${SIZE:-128}
THREADS=${THREADS:-2}
mkdir -p "$OUT"
export ECG_CACHE_DIR=$OUT/cache OMP_WAIT_POLICY=passive
t0=$(date +%s)
"$E" synth --out "$OUT/data" --per-class "$PER" --seed "${DATA_SEED:-7}" --width 1106 --quiet
# The main job's training flags (tools/main_job.sh), fewer pages and epochs.
"$E" train --data "$OUT/data" --model resnet11 --image-size "$SIZE" --epochs "$EPOCHS" --batch 16 \
  --seed "${TRAIN_SEED:-1}" --schedule cosine --warmup-epochs 1 --out "$OUT/train" \
  --threads "$THREADS" > "$OUT/train.log" 2>&1
"$E" eval --checkpoint "$OUT/train/best.safetensors" --data "$OUT/data" --threads "$THREADS" \
  --no-report | tee "$OUT/eval_synth.txt"
"$E" eval --checkpoint "$OUT/train/best.safetensors" --data "$REAL" --split all \
  --threads "$THREADS" --no-report | tee "$OUT/eval_real.txt"
"$E" eval --checkpoint "$OUT/train/best.safetensors" --data "$REAL" --split all \
  --threads "$THREADS" --no-report --json > "$OUT/eval_real.json"
echo "wall $(($(date +%s) - t0)) s"
