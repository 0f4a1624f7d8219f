#!/usr/bin/env bash
# For a machine with GPUs (none was lent while this was written, so the NCCL
# path of docs/distributed.md is compile-checked only): data-parallel
# training with --device cuda under mpirun, against the same run on CPU
# ranks. Two ranks (ResNet-11, 32 px, one epoch, SGD, per-rank BN), every
# step's parameter check on; the epoch's training loss must match the CPU
# ranks' within 1e-3 relative (the device kernels sum in their own order).
# With two or more GPUs and an ecgcnn built with NCCL, the run must say
# "NCCL ... for device gradients"; with one GPU the two ranks share it and
# must say that they fall back to MPI from host memory.
#
# Usage: tools/ci/nccl_gpu_check.sh [GPU ecgcnn] [CPU ecgcnn]
#   defaults: build-cuda-ecgcnn/tools/ecgcnn (tools/ci/cuda_gpu_build.sh;
#   ECG_CUDA_ARCHITECTURES=native there for this GPU) and build/tools/ecgcnn.
set -euo pipefail
cd "$(dirname "$0")/../.."
gpu_bin=${1:-build-cuda-ecgcnn/tools/ecgcnn}
cpu_bin=${2:-build/tools/ecgcnn}
work=$(mktemp -d /tmp/ecg_nccl_check.XXXXXX)
trap 'rm -rf "$work"' EXIT
gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
export OMP_WAIT_POLICY=passive ECG_CACHE_DIR=$work/cache
"$cpu_bin" synth --out "$work/data" --per-class 6 --width 320 --seed 3 --quiet >/dev/null
args=(train --data "$work/data" --model resnet11 --image-size 32 --epochs 1 --batch 6
  --optimizer sgd --lr 0.001 --seed 5 --threads 1 --precise-bn 0 --param-check-every 1
  --mpi-timeout 120)
launch=(mpirun --allow-run-as-root --oversubscribe -np 2)
"${launch[@]}" "$cpu_bin" "${args[@]}" --out "$work/cpu" >"$work/cpu.log" 2>&1
"${launch[@]}" "$gpu_bin" --device cuda "${args[@]}" --out "$work/gpu" >"$work/gpu.log" 2>&1 || {
  echo "nccl_gpu_check: FAIL: the --device cuda run failed:"
  tr '\r' '\n' <"$work/gpu.log" | tail -20
  exit 1
}
loss() { tr '\r' '\n' <"$1" | grep -o '^epoch 1/1: train loss [0-9.]*' | awk '{print $5}'; }
cpu_loss=$(loss "$work/cpu.log") gpu_loss=$(loss "$work/gpu.log")
status=0
awk -v a="$cpu_loss" -v b="$gpu_loss" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a > 0 && d <= 1e-3 * a) }' ||
  { echo "nccl_gpu_check: FAIL: train loss cpu $cpu_loss, cuda $gpu_loss"; status=1; }
line=$(tr '\r' '\n' <"$work/gpu.log" | grep '^data parallel: Open MPI' || true)
if "$gpu_bin" info | grep -q '^nccl: *NCCL' && [ "$gpus" -ge 2 ]; then
  grep -q 'NCCL .* for device gradients' <<<"$line" ||
    { echo "nccl_gpu_check: FAIL: $gpus GPUs, but no NCCL in: $line"; status=1; }
elif [ "$gpus" -lt 2 ] && "$gpu_bin" info | grep -q '^nccl: *NCCL'; then
  grep -q 'device gradients go through MPI from host memory' "$work/gpu.log" ||
    { echo "nccl_gpu_check: FAIL: one GPU, but no fallback line"; status=1; }
fi
echo "nccl_gpu_check: $gpus GPU(s); train loss cpu $cpu_loss, cuda $gpu_loss; $line"
exit "$status"
