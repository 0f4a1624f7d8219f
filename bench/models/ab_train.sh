#!/usr/bin/env bash
# A/B of two ecgcnn binaries on one training configuration: alternated rounds
# (A, B, A, B, ...) so that a noisy machine slows both alike, then the median of
# each, the median of the per-round ratios B/A, and their spread. Used for the
# cost of issue 22's fixed-order reductions (A: the commit before, B: after).
#
# Usage: [MODE=train|infer|int8] bench/models/ab_train.sh <binary A> <binary B> [rounds] [threads] [size] [batch] [steps]
# Defaults: train, 8 rounds, 2 threads, ResNet-11 at 224 px, batch 16, 3 timed
# steps (plus one warm-up). OMP_WAIT_POLICY=passive for both, as for every
# engine. MODE=infer (float) and MODE=int8 (quantized on the fly) time
# inference, as for issue 16's restructuring (same speed before and after).
set -euo pipefail
A=${1:?binary A}
B=${2:?binary B}
ROUNDS=${3:-8}
THREADS=${4:-2}
SIZE=${5:-224}
BATCH=${6:-16}
STEPS=${7:-3}
MODE=${MODE:-train}
export OMP_WAIT_POLICY=passive

rate() {
  "$1" bench --model resnet11 --mode "$MODE" --batch "$BATCH" --image-size "$SIZE" --steps "$STEPS" \
    --warmup 1 --threads "$THREADS" --json | grep -o '"images_per_s":[0-9.e+-]*' | cut -d: -f2
}

echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
echo "config: resnet11 $MODE, batch $BATCH, ${SIZE} px, $THREADS threads, $STEPS steps, $ROUNDS rounds"
a_all=() b_all=() ratios=()
for r in $(seq "$ROUNDS"); do
  a=$(rate "$A")
  b=$(rate "$B")
  a_all+=("$a") b_all+=("$b")
  ratios+=("$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.4f", b / a }')")
  echo "round $r: A $a img/s, B $b img/s, B/A ${ratios[-1]}, load $(cut -d' ' -f1 /proc/loadavg)"
done
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
spread() { printf '%s\n' "$@" | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { print lo " .. " hi }'; }
echo "A median $(median "${a_all[@]}") img/s ($(spread "${a_all[@]}"))"
echo "B median $(median "${b_all[@]}") img/s ($(spread "${b_all[@]}"))"
echo "B/A per round: median $(median "${ratios[@]}") ($(spread "${ratios[@]}"))"
