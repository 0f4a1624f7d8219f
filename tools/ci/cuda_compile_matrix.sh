#!/usr/bin/env bash
# Compiles every .cu of the repository with the CUDA 13 toolkit for sm_75,
# sm_80, sm_86, sm_89 and sm_90 plus compute_90 PTX, warnings as errors,
# spills and local-memory use reported by ptxas, and prints a resource table
# (registers, shared memory, stack, spills per kernel and arch) for the log.
# The Nano's sm_53 is compiled by tools/ci/cuda_sm53.sh (CUDA 13 cannot).
#
# Usage: tools/ci/cuda_compile_matrix.sh [files.cu...]  (default: every tracked .cu)
# NVCC overrides the compiler (default: nvcc on PATH, else /usr/local/cuda/bin/nvcc).
set -euo pipefail
cd "$(dirname "$0")/../.."
start=$(date +%s)

nvcc=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
if [ ! -x "$nvcc" ]; then
  echo "cuda_compile_matrix: no nvcc (set NVCC); skipped"
  exit 0
fi
"$nvcc" --version | tail -2

. tools/ci/cuda_compile_each.sh
cuda_cu_files cuda_compile_matrix "$@" || exit 0

# C++14: the Nano's CUDA 10.2 accepts nothing newer, so kernels are held to it here too.
flags=(-std=c++14 -I.
  -gencode arch=compute_75,code=sm_75 -gencode arch=compute_80,code=sm_80
  -gencode arch=compute_86,code=sm_86 -gencode arch=compute_89,code=sm_89
  -gencode arch=compute_90,code=[sm_90,compute_90]
  -Werror all-warnings -Xcompiler -Wall,-Wextra,-Wno-unused-parameter,-Werror
  -Xptxas -v,-warn-spills,-warn-lmem-usage)
cuda_compile_each build-cuda-matrix "ok   sm_75/80/86/89/90+PTX" "FAIL                      " --headers

echo "resource report (ptxas -v):"
bash tools/ci/cuda_resource_report.sh "$log"
echo "cuda_compile_matrix: ${#files[@]} files, full ptxas log in $log ($(($(date +%s) - start)) s)"
exit $status
