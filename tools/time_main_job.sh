#!/usr/bin/env bash
# Times the main job (tools/main_job.sh, what `bash tools/setup.sh --run` runs)
# against issue 14's target: at most 600 s on a 2-core machine with test
# accuracy >= 0.90. Run it on an idle machine.
#
#   tools/time_main_job.sh [--quick] [ECGCNN [RUN_DIR]]
#
# ECGCNN defaults to build/tools/ecgcnn, RUN_DIR to a fresh folder under /tmp.
# Full (default): the main job with its default knobs; prints each stage's
# seconds (from steps.tsv), the whole job against 600 s, the float test
# accuracy against 0.90, and the training loop's per-epoch timing
# (train/history.json: step, time outside the step, RSS).
# --quick (a few minutes on an idle machine): ECG_PER_CLASS=80, ECG_EPOCHS=3,
# ECG_FT_EPOCHS=3, the real-scan block with its default configurations, and a
# projection of the full job's seconds per stage from the measured ones (each
# stage scaled by what drives it: pages, epochs, fine-tuning epochs). The
# accuracy of a quick run is not the full run's.
# The decoded-image cache is sent to RUN_DIR/cache so the training stage pays
# the decode, as a first run of the main job does.
set -euo pipefail
QUICK=0
if [ "${1:-}" = --quick ]; then
  QUICK=1
  shift
fi
REPO=$(cd "$(dirname "$0")/.." && pwd)
ECG=$(realpath "${1:-$REPO/build/tools/ecgcnn}")
RUN=${2:-$(mktemp -d /tmp/main_job_timed.XXXXXX)}
[ -x "$ECG" ] || { echo "$ECG: no ecgcnn binary (build it: ninja -C build ecgcnn)" >&2; exit 1; }
mkdir -p "$RUN"
RUN=$(realpath "$RUN")
export ECG_CACHE_DIR="$RUN/cache"

# The full job's knobs (tools/main_job.sh defaults) and the quick ones.
FULL_PC=250 FULL_EP=16 FULL_FT=15
if [ $QUICK = 1 ]; then
  export ECG_PER_CLASS=${ECG_PER_CLASS:-80} ECG_EPOCHS=${ECG_EPOCHS:-3} ECG_FT_EPOCHS=${ECG_FT_EPOCHS:-3}
fi
PC=${ECG_PER_CLASS:-$FULL_PC} EP=${ECG_EPOCHS:-$FULL_EP} FT=${ECG_FT_EPOCHS:-$FULL_FT}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "run folder: $RUN (per class $PC, epochs $EP, fine-tuning epochs $FT)"
t0=$(date +%s.%N)
/usr/bin/env time -v -o "$RUN/time.txt" bash "$REPO/tools/main_job.sh" "$ECG" "$RUN/job" \
  > "$RUN/main_job.log" 2>&1 || { echo "main job failed: see $RUN/main_job.log" >&2; exit 1; }
t1=$(date +%s.%N)
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
total=$(echo "$t1 - $t0" | bc)

# Stage seconds: each steps.tsv mark lasts until the next one.
awk -F'\t' '{ t[NR] = $1; n[NR] = $2 } END {
  for (i = 1; i < NR; ++i) printf "%s\t%d\n", n[i], t[i + 1] - t[i] }' "$RUN/job/steps.tsv" \
  > "$RUN/stages.tsv"

# What drives each stage's cost, for the projection (--quick):
#  - training: the epochs measured in train/history.json (issue 14's timing):
#    step and data per training image, precise BN per batch (at most 20
#    batches, `ecgcnn train --precise-bn`), validation per validation image,
#    checkpoints and the rest per epoch; the decode and start-up scale with
#    the pages;
#  - 5-fold fine-tuning: each run's training loop (its history.json) scales
#    with the fine-tuning epochs, the rest (evaluations, start-up) is fixed;
#  - synthesis and the test evaluations scale with the pages; quantize with
#    its calibration images (at most 200); the rest is fixed.
pages=$(echo "$FULL_PC / $PC" | bc -l)
H="$RUN/job/train/history.json"
train_projection() {  # measured stage seconds -> projected
  jq -r --argjson stage "$1" --argjson pages "$pages" --argjson epochs "$FULL_EP" '
    (.config.splits.train_counts | add) as $ntr | (.config.splits.val_counts | add) as $nval |
    (.history | length) as $e | [.history[].timing] as $t |
    def mean(f): ($t | map(f) | add) / $e;
    def batches(n): ((n + 15) / 16 | floor) as $b | if $b > 20 then 20 else $b end;
    ($ntr * $pages) as $ntr_f | ($nval * $pages) as $nval_f |
    (mean(.step + .data) / $ntr * $ntr_f
     + mean(.precise_bn) / batches($ntr) * batches($ntr_f)
     + (if $nval > 0 then mean(.validation - .precise_bn) / $nval * $nval_f else 0 end)
     + mean(.checkpoint + .other)) as $epoch_f |
    (($stage - .timings.loop_seconds) * $pages + $epochs * $epoch_f)' "$H"
}
finetune_projection() {  # measured stage seconds -> projected
  local loops
  loops=$(cat "$RUN"/job/real/finetune/runs/*/*/history.json 2>/dev/null |
    jq -s 'map(.timings.loop_seconds) | add // 0')
  echo "$1 + ($FULL_FT / $FT - 1) * $loops" | bc -l
}
project() {  # stage name, measured seconds -> projected seconds
  local calib
  case $1 in
    synthesise* | evaluate*) echo "$2 * $pages" | bc -l ;;
    train*) train_projection "$2" ;;
    5-fold*) finetune_projection "$2" ;;
    quantize*)
      calib=$(jq '.config.splits.train_counts | add' "$H")
      jq -n --argjson s "$2" --argjson c "$calib" --argjson p "$pages" \
        '$s * ([$c * $p, 200] | min) / ([$c, 200] | min)' ;;
    *) echo "$2" ;;
  esac
}

printf '\n%-72s %8s' "stage" "seconds"
[ $QUICK = 1 ] && printf ' %10s' "projected"
printf '\n'
projected=0
while IFS=$'\t' read -r name secs; do
  printf '%-72.72s %8d' "$name" "$secs"
  if [ $QUICK = 1 ]; then
    p=$(project "$name" "$secs")
    projected=$(echo "$projected + $p" | bc -l)
    printf ' %10.0f' "$p"
  fi
  printf '\n'
done < "$RUN/stages.tsv"
printf '%-72s %8.0f' "whole job (target 600 s)" "$total"
[ $QUICK = 1 ] && printf ' %10.0f' "$projected"
printf '\n'
grep -E 'Maximum resident|Elapsed|User time|System time' "$RUN/time.txt" | sed 's/^\s*/  /'

acc=$(jq -r '.accuracy' "$RUN/job/eval_float.json" 2>/dev/null || echo '?')
echo "float test accuracy: $acc (target >= 0.90$([ $QUICK = 1 ] && echo '; a quick run is not the full run'))"
if [ -f "$RUN/job/real/finetune/results.tsv" ]; then
  echo "real scans (5-fold, mean accuracy per configuration):"
  awk -F'\t' 'NR > 1 { n[$1]++; s[$1] += $3 } END { for (c in n) printf "  %-9s %.3f\n", c, s[c] / n[c] }' \
    "$RUN/job/real/finetune/results.tsv" | sort
fi

# The training loop per epoch (history.json "timing", issue 14).
if [ -f "$H" ] && jq -e '.history[0].timing' "$H" > /dev/null 2>&1; then
  echo "training loop per epoch (seconds): wall, step, outside (%), data, validation (precise BN), checkpoint, other, CPU, RSS MB, minor faults"
  jq -r '.history[] | .timing as $t | [.epoch + 1, $t.wall, $t.step, $t.outside, $t.outside_pct,
      $t.data, $t.validation, $t.precise_bn, $t.checkpoint, $t.other, $t.cpu, $t.rss_mb, $t.minor_faults]
      | "  \(.[0])\t\(.[1:] | map(. * 10 | round / 10) | map(tostring) | join("\t"))"' "$H"
  jq -r '.timings | "  loop: \(.loop_seconds // 0 | round) s, of which outside the step \(.outside_seconds // 0 | round) s (\(.outside_pct // 0 | . * 10 | round / 10) %)"' "$H"
fi
echo "log: $RUN/main_job.log; stage seconds: $RUN/stages.tsv"
