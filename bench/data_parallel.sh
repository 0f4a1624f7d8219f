#!/usr/bin/env bash
# Data-parallel training on one machine (docs/distributed.md): one process
# with T threads against N ranks (mpirun) with T/N threads each, alternated
# ROUNDS times, same data, model, global batch and seed. Prints images/s of
# each run (the last epoch's, from history.json) and the ranks' allreduce
# wait per step (the trainer's "data parallel:" line), then the alpha-beta
# ring-allreduce model of docs/distributed.md calibrated with the measured
# time per image.
#
#   bash bench/data_parallel.sh [build/tools/ecgcnn]
#   env: SIZE (px, 64), PER_CLASS (synthetic pages per class, 24), BATCH (16),
#        EPOCHS (2), RANKS (2), THREADS (2), ROUNDS (3), BUCKET_MB (1),
#        SYNC_BN (1: --sync-bn; 0: per-rank BN)
set -euo pipefail
ecgcnn=${1:-build/tools/ecgcnn}
size=${SIZE:-64} per_class=${PER_CLASS:-24} batch=${BATCH:-16} epochs=${EPOCHS:-2}
ranks=${RANKS:-2} threads=${THREADS:-2} rounds=${ROUNDS:-3} bucket=${BUCKET_MB:-1}
sync_bn=${SYNC_BN:-1}
work=$(mktemp -d /tmp/ecg_dp_bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
export OMP_WAIT_POLICY=passive ECG_CACHE_DIR=$work/cache
"$ecgcnn" synth --out "$work/data" --per-class "$per_class" --width 640 --seed 3 --quiet >/dev/null
args=(train --data "$work/data" --model resnet11 --image-size "$size" --epochs "$epochs"
      --batch "$batch" --seed 1 --precise-bn 0 --bucket-mb "$bucket")
if [ "$sync_bn" = 1 ]; then args+=(--sync-bn); fi
last_ips() { grep -o '"images_per_s": *[0-9.e+-]*' "$1/history.json" | tail -1 | sed 's/.*: *//'; }
echo "ResNet-11 at ${size} px, global batch ${batch}, ${epochs} epochs, sync BN ${sync_bn}; $(nproc) cores; $(date -u)"
for r in $(seq "$rounds"); do
  "$ecgcnn" "${args[@]}" --threads "$threads" --out "$work/one" >"$work/one.log" 2>&1
  one=$(last_ips "$work/one")
  mpirun --allow-run-as-root --oversubscribe -np "$ranks" "$ecgcnn" "${args[@]}" \
    --threads $((threads / ranks > 0 ? threads / ranks : 1)) --out "$work/dp" >"$work/dp.log" 2>&1
  dp=$(last_ips "$work/dp")
  wait_line=$(tr '\r' '\n' <"$work/dp.log" | grep '^data parallel: .*allreduce wait' | tail -1)
  echo "round $r: 1 process x $threads threads: $one img/s | $ranks ranks x $((threads / ranks)) thread(s): $dp img/s | $wait_line"
done
# The model (docs/distributed.md): per-image compute from the one-process
# run, each node computing PER_RANK images per step (weak scaling); the ring
# allreduce of ResNet-11's gradients, 2 (p-1) alpha + 2 (p-1)/p * bytes /
# bandwidth, not overlapped (an upper bound); with sync BN, 14 small
# latency-bound reductions per step (7 BN layers, forward and backward) of
# ceil(log2 p) alpha each.
awk -v ips="$one" -v per_rank="${PER_RANK:-$batch}" -v sync_bn="$sync_bn" 'BEGIN {
  bytes = 610388 * 4; alpha = 50e-6; t_img = 1 / ips
  printf "\nmodel: %.0f bytes of gradients, alpha %.0f us, %.4f s per image (measured), %d images per node per step\n", bytes, alpha * 1e6, t_img, per_rank
  printf "%8s %6s %12s %12s %10s\n", "Gbit/s", "nodes", "compute_s", "comm_s", "efficiency"
  split("1 10 100", bw, " "); split("2 4 8 16 32 64", nodes, " ")
  for (i = 1; i <= 3; ++i) for (j = 1; j <= 6; ++j) {
    p = nodes[j]; beta = 8 / (bw[i] * 1e9)
    comm = 2 * (p - 1) * alpha + 2 * (p - 1) / p * bytes * beta
    if (sync_bn == 1) { l = 0; for (q = 1; q < p; q *= 2) ++l; comm += 14 * l * alpha }
    compute = per_rank * t_img
    printf "%8s %6d %12.4f %12.4f %9.1f%%\n", bw[i], p, compute, comm, 100 * compute / (compute + comm)
  }
}'
