#!/usr/bin/env bash
# Fine-tuning on a few real scans, measured by stratified 5-fold cross-validation
# (issue 21): per fold, the test part is 1/5 of every class and is only ever
# evaluated, never trained or selected on. Model selection uses the default
# validation split held out of the fold's training part (--val-fraction 0.2).
#
#   bench/finetune/five_fold.sh ECGCNN REAL_DIR PRETRAINED.safetensors OUT_DIR [EPOCHS]
#
# REAL_DIR holds class folders (directly or under train/, as tests/data/real-scans).
# Folds: each class's files sorted by name (LC_ALL=C); file i goes to the test
# part of fold i mod 5 (symlinks under OUT_DIR/folds/K/{train,test}/CLASS);
# OUT_DIR/folds.tsv lists every fold's test scans by name.
# Configurations (fixed before any fold was evaluated):
#   zeroshot  the pretrained checkpoint as it is
#   scratch   ResNet-11 from its seed, default recipe (Adam 1e-3, precise BN)
#   ft-bn     --init-from, --freeze-bn, Adam 1e-4 constant (the --help recipe)
#   ft-head   --init-from, body frozen (stem, stage0-2) and --freeze-bn, Adam 1e-3: only fc trains
# Environment: CONFIGS (default "ft-head ft-bn scratch"; zeroshot always runs),
# THREADS (2), SIZE (scratch's input size; default: the checkpoint's).
# Prints one line per fold and configuration, then mean and standard deviation;
# writes OUT_DIR/results.tsv.
set -euo pipefail
if [ $# -lt 4 ]; then
  sed -n '2,23p' "$0"
  exit 2
fi
E=$(realpath "$1")
REAL=$(realpath "$2")
PRE=$(realpath "$3")
OUT=$4
EPOCHS=${5:-10}
THREADS=${THREADS:-2}
CONFIGS=${CONFIGS:-ft-head ft-bn scratch}
for cfg in $CONFIGS; do
  case $cfg in ft-head | ft-bn | scratch) ;; *) echo "CONFIGS: unknown configuration $cfg" >&2; exit 2 ;; esac
done
[ -d "$REAL/train" ] && REAL="$REAL/train"
mkdir -p "$OUT"
OUT=$(realpath "$OUT")
export ECG_CACHE_DIR="$OUT/cache"
# The pretrained checkpoint fixes the model and input size (train takes them
# from it); scratch uses the same size, read from the checkpoint's JSON header.
SIZE=${SIZE:-$(head -c 65536 "$PRE" | grep -ao 'image_size[^0-9]*[0-9]*' | sed -n '1s/.*[^0-9]//p')}
[ -n "$SIZE" ] || { echo "$PRE: no image_size in its header" >&2; exit 1; }

make_folds() {
  rm -rf "$OUT/folds"
  printf 'fold\tclass\ttest scan\n' > "$OUT/folds.tsv"
  for cls in "$REAL"/*/; do
    cls=$(basename "$cls")
    i=0
    while IFS= read -r f; do
      for k in 0 1 2 3 4; do
        part=train
        if [ $((i % 5)) -eq $k ]; then
          part=test
          printf '%d\t%s\t%s\n' "$k" "$cls" "$f" >> "$OUT/folds.tsv"
        fi
        mkdir -p "$OUT/folds/$k/$part/$cls"
        ln -s "$REAL/$cls/$f" "$OUT/folds/$k/$part/$cls/$f"
      done
      i=$((i + 1))
    done < <(cd "$REAL/$cls" && ls | LC_ALL=C sort)
  done
}

accuracy() {  # checkpoint, data folder -> accuracy on its test/ part
  "$E" eval --threads "$THREADS" --checkpoint "$1" --data "$2" --split test --no-report --json 2>/dev/null |
    grep -m1 '"accuracy"' | sed 's/[^0-9.]//g'
}

train_fold() {  # config, fold
  local cfg=$1 k=$2 run="$OUT/runs/$1/$2" data="$OUT/folds/$2"
  local common=(--data "$data" --epochs "$EPOCHS" --batch 8 --seed 1 --threads "$THREADS"
                --out "$run")
  case $cfg in
    scratch) "$E" train "${common[@]}" --model resnet11 --image-size "$SIZE" ;;
    ft-bn) "$E" train "${common[@]}" --init-from "$PRE" --freeze-bn --optimizer adam --lr 1e-4 \
             --schedule constant ;;
    ft-head) "$E" train "${common[@]}" --init-from "$PRE" --freeze stem,stage0,stage1,stage2 \
               --freeze-bn --optimizer adam --lr 1e-3 --schedule constant ;;
  esac > "$run.log" 2>&1 || { echo "train $cfg fold $k failed: see $run.log" >&2; exit 1; }
}

make_folds
for cfg in $CONFIGS; do mkdir -p "$OUT/runs/$cfg"; done
printf 'config\tfold\taccuracy\n' > "$OUT/results.tsv"
for k in 0 1 2 3 4; do
  printf 'zeroshot\t%d\t%s\n' "$k" "$(accuracy "$PRE" "$OUT/folds/$k")" >> "$OUT/results.tsv"
  for cfg in $CONFIGS; do
    train_fold "$cfg" "$k"
    printf '%s\t%d\t%s\n' "$cfg" "$k" "$(accuracy "$OUT/runs/$cfg/$k/best.safetensors" \
      "$OUT/folds/$k")" >> "$OUT/results.tsv"
  done
  awk -F'\t' -v k="$k" 'BEGIN { printf "fold %d:  ", k } $2 == k { printf "%s %s  ", $1, $3 }
    END { print "" }' "$OUT/results.tsv"
done
echo "config  mean  std (population, 5 folds of 8 scans)"
awk -F'\t' 'NR > 1 { n[$1]++; s[$1] += $3; q[$1] += $3 * $3 }
  END { for (c in n) { m = s[c] / n[c]; v = q[c] / n[c] - m * m; if (v < 0) v = 0;
        printf "%-8s  %.3f  %.3f\n", c, m, sqrt(v) } }' "$OUT/results.tsv" | sort
