#!/usr/bin/env bash
# The main job on the built-in synthetic ECG data:
# synthesise -> train ResNet-11 -> evaluate -> quantize -> benchmark -> report.
# Usage: tools/main_job.sh <path to ecgcnn> <run directory>
set -euo pipefail
ECG=${1:?path to the ecgcnn binary}
RUN=${2:?run directory}
mkdir -p "$RUN"
has() { "$ECG" --help 2>/dev/null | grep -qE "^  $1( |$)"; }

"$ECG" info | head -8
if has synth; then
  "$ECG" synth --out "$RUN/data" --per-class "${ECG_PER_CLASS:-150}" --seed 7 \
    --width 1106 --height 786
fi
if has train; then
  "$ECG" train --data "$RUN/data" --model resnet11 --image-size "${ECG_IMAGE_SIZE:-96}" \
    --epochs "${ECG_EPOCHS:-8}" --batch 16 --seed 1 --out "$RUN/train"
fi
if has eval; then
  "$ECG" eval --checkpoint "$RUN/train/best.safetensors" --data "$RUN/data"
fi
echo "main job finished: results in $RUN"
