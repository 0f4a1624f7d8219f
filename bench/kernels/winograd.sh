#!/usr/bin/env bash
# Winograd F(4,3) against the direct convolution (issue 14), for the lead's
# quiet-window rerun and for refitting the cost model of
# kernels/cpu/winograd_choice.cpp:
#  1. accuracy: max / mean |Winograd - direct| / max |y| per ResNet-11 3x3
#     layer at 224 px (batch 1, He weights, post-ReLU inputs)
#  2. per-layer direct vs Winograd ms, forward and backward-data, batch 1 and
#     16, THREADS threads (wall and process CPU time; which one auto picks)
#  3. the same at 1 thread, batch 1, CPU time per ISA level (the model's fit)
#  4. end to end: ecgcnn bench --mode infer --model resnet11 --image-size 224
#     --batch 1 with ECG_WINOGRAD=off, on and auto, alternated ROUNDS times
#
#   bash bench/kernels/winograd.sh [BUILD_DIR]      (default build-bench)
#   env: THREADS (2), REPS (5), ROUNDS (2), FIT_ISAS ("avx512 avx2 generic"),
#        SKIP_BUILD=1 (use BUILD_DIR as it is)
# The build needs -DECG_BUILD_BENCH=ON (bench_winograd is a plain executable
# in bench/kernels, built only with the benchmarks); configure and build it
# before a quiet window: SKIP_BUILD=1 then runs nothing but the measurements.
set -euo pipefail
build=${1:-build-bench}
threads=${THREADS:-2} reps=${REPS:-5} rounds=${ROUNDS:-2}
fit_isas=${FIT_ISAS:-avx512 avx2 generic}
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DECG_CUDA=OFF -DECG_BUILD_BENCH=ON \
    >/dev/null
  ninja -C "$build" bench_winograd ecgcnn >/dev/null
fi
bw=$build/bench/kernels/bench_winograd
ecgcnn=$build/tools/ecgcnn
export OMP_WAIT_POLICY=passive
echo "## Winograd vs direct, $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'); $(date -u)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "### Accuracy (forward)"
"$bw" accuracy
echo
echo "### Per layer, $threads threads"
"$bw" time --threads "$threads" --reps "$reps"
for isa in $fit_isas; do
  echo
  echo "### Per layer, 1 thread, batch 1, --isa $isa (cost-model fit: the cpu ms columns)"
  "$bw" time --threads 1 --reps 3 --batch 1 --isa "$isa" || echo "($isa not available)"
done
echo
echo "### ResNet-11 inference, batch 1, 224 px, $threads threads"
for r in $(seq "$rounds"); do
  for mode in off on auto; do
    # Process CPU seconds (user + system) of the whole command too (12 steps
    # and the start-up): under load they count only the time the process ran.
    tfile=$(mktemp)
    line=$(ECG_WINOGRAD=$mode /usr/bin/time -f '%U %S' -o "$tfile" "$ecgcnn" bench --mode infer \
      --model resnet11 --image-size 224 --batch 1 --threads "$threads" 2>/dev/null |
      grep -m1 'ms/step')
    cpu=$(awk '{printf "%.2f", $1 + $2}' "$tfile")
    rm -f "$tfile"
    echo "round $r ECG_WINOGRAD=$mode: ${line#*: }; process CPU ${cpu} s"
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
