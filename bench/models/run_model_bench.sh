#!/usr/bin/env bash
# Whole-model benchmarks: `ecgcnn bench` against the PyTorch peer
# (bench/peers/pytorch_models.py, channels-last) on the same configurations,
# alternated in the same run, then a ratio table. Issue 5's targets:
# ResNet-11 224x224 batch 16 training >= 5x PyTorch's images/s, batch-1
# inference latency <= half of PyTorch's, peak memory <= PyTorch's; AlexNet
# training >= 1.5x PyTorch.
#
# Usage: bench/models/run_model_bench.sh <ecgcnn binary> <python with torch> [rounds] [threads]
# The Python: a venv with `pip install torch==1.13.1 "numpy<2"` (PyPI; never needed by CI).
# Output: one JSON line per measurement on stdout's log, then the table.
set -euo pipefail
ECG=${1:?path to ecgcnn}
PY=${2:?python with torch 1.13}
ROUNDS=${3:-2}
THREADS=${4:-$(nproc)}
cd "$(dirname "$0")/../.."
LOG=$(mktemp)

# "model mode batch size steps" per configuration; ECG_BENCH_CONFIGS (';'-separated) overrides.
CONFIGS=("resnet11 train 16 224 3" "resnet11 infer 1 224 20" "alexnet train 16 224 3")
if [ -n "${ECG_BENCH_CONFIGS:-}" ]; then IFS=';' read -r -a CONFIGS <<<"$ECG_BENCH_CONFIGS"; fi
for r in $(seq "$ROUNDS"); do
  for c in "${CONFIGS[@]}"; do
    set -- $c
    echo "round $r: $c" >&2
    e=$("$ECG" bench --model "$1" --mode "$2" --batch "$3" --image-size "$4" --steps "$5" \
      --threads "$THREADS" --json)
    p=$("$PY" bench/peers/pytorch_models.py --model "$1" --mode "$2" --batch "$3" \
      --image-size "$4" --steps "$5" --threads "$THREADS" --json)
    echo "{\"round\": $r, \"config\": \"$c\", \"ecgcnn\": $e, \"pytorch\": $p}" | tee -a "$LOG"
  done
done

python3 - "$LOG" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print("\n| config | round | ecgcnn img/s | PyTorch img/s | speed ratio | ecgcnn ms/step | PyTorch ms/step | ecgcnn peak RSS MB | PyTorch peak RSS MB |")
print("|---|---|---|---|---|---|---|---|---|")
for r in rows:
    e, p = r["ecgcnn"], r["pytorch"]
    print(f"| {r['config']} | {r['round']} | {e['images_per_s']:.2f} | {p['images_per_s']:.2f} | "
          f"{e['images_per_s'] / p['images_per_s']:.2f}x | {e['ms_per_step']:.1f} | {p['ms_per_step']:.1f} | "
          f"{e['peak_rss_mb']:.0f} | {p['peak_rss_mb']:.0f} |")
PY
rm -f "$LOG"
