#!/usr/bin/env bash
# The GPU build of `ecgcnn` (-DECG_CUDA=ON): core/cuda/engine.cu
# compiled by nvcc (CUDA 13 from /usr/local/cuda here), the CUDA int8 and
# FP16 backends' host translation units (quant/cuda/), CUDA::cudart and cuBLAS linked into the program.
# Only the ecgcnn target and one architecture (sm_75; ECG_CUDA_ARCHITECTURES
# overrides), to keep it to a few minutes on 2 cores. Then, on a machine
# without a GPU (CI), `ecgcnn train|eval|infer|bench --device cuda` must stop
# with one exact line and exit 1; on a machine with a GPU the device
# commands are run by tools/ci/cuda_gpu_check.sh instead.
# NCCL (the device gradients of data-parallel training,
# core/cuda/nccl_collective.cpp) is required here (-DECG_NCCL=ON), so its
# path is compiled and linked in every CI run: from the toolkit when it ships
# nccl.h (CUDA 13 here does), else from NCCL_ROOT, else from NVIDIA's wheel
# (tools/ci/fetch_nccl.sh, cached outside the clone). It adds one host
# translation unit (a few seconds) and the symbol checks below.
#
# Usage: tools/ci/cuda_gpu_build.sh   (NVCC, ECG_CUDA_ARCHITECTURES, ECG_GPU_BUILD_DIR,
#        NCCL_ROOT override)
set -euo pipefail
cd "$(dirname "$0")/../.."
start=$(date +%s)
nvcc=${NVCC:-/usr/local/cuda/bin/nvcc}
if [ ! -x "$nvcc" ]; then
  echo "cuda_gpu_build: no nvcc (set NVCC); skipped"
  exit 0
fi
build=${ECG_GPU_BUILD_DIR:-build-cuda-ecgcnn}
arch=${ECG_CUDA_ARCHITECTURES:-75}

nccl_root=${NCCL_ROOT:-}
if [ -z "$nccl_root" ] && [ ! -f "$(dirname "$nvcc")/../include/nccl.h" ]; then
  nccl_root=$(bash tools/ci/fetch_nccl.sh)
fi
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DECG_CUDA=ON \
  -DCMAKE_CUDA_COMPILER="$nvcc" -DCMAKE_CUDA_ARCHITECTURES="$arch" -DECG_NCCL=ON \
  ${nccl_root:+-DNCCL_ROOT="$nccl_root"} -DECG_BUILD_TESTS=OFF -DECG_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" --target ecgcnn
bin="$build/tools/ecgcnn"
# The engine and cuBLAS are in the program (not only compiled). Whole outputs
# first: `nm | grep -q` would fail under pipefail when grep stops reading.
symbols=$(nm -C "$bin")
libs=$(ldd "$bin")
grep -q "ecg::cuda::install_engine" <<<"$symbols" || { echo "cuda_gpu_build: no engine in $bin"; exit 1; }
grep -q "install_cublas_gemm" <<<"$symbols" || { echo "cuda_gpu_build: no cuBLAS path in $bin"; exit 1; }
grep -q "libcublas" <<<"$libs" || { echo "cuda_gpu_build: $bin does not link libcublas"; exit 1; }
# The NCCL path of data-parallel training: compiled, linked, registered.
grep -q "ecg::cuda::with_nccl" <<<"$symbols" || { echo "cuda_gpu_build: no NCCL path in $bin"; exit 1; }
grep -q "libnccl" <<<"$libs" || { echo "cuda_gpu_build: $bin does not link libnccl"; exit 1; }
info=$("$bin" info)
grep -q "^nccl: *NCCL [0-9]" <<<"$info" || { echo "cuda_gpu_build: ecgcnn info names no NCCL"; exit 1; }
grep "^nccl:" <<<"$info"

if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
  echo "cuda_gpu_build: a GPU is present; tools/ci/cuda_gpu_check.sh runs the device commands"
else
  # No GPU: every model-running command stops with the engine's one line.
  pattern='^ecgcnn: error: --device cuda: no CUDA device found( \([^()]*\))?$'
  status=0
  for cmd in train eval infer bench; do
    set +e
    err=$("$bin" "$cmd" --device cuda 2>&1 >/dev/null)
    code=$?
    set -e
    if [ "$code" -eq 1 ] && [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] &&
      printf '%s\n' "$err" | grep -Eq "$pattern"; then
      echo "  ok   ecgcnn $cmd --device cuda: exit 1, \"$err\""
    else
      echo "  FAIL ecgcnn $cmd --device cuda: exit $code, stderr:"
      printf '%s\n' "$err"
      status=1
    fi
  done
  [ "$status" -eq 0 ] || exit 1
fi
echo "cuda_gpu_build: ecgcnn with the CUDA engine (CUDA architectures $arch) in $(($(date +%s) - start)) s"
