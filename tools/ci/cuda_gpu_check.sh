#!/usr/bin/env bash
# For a machine with a GPU (this project is rarely lent one; never run on the
# machines that wrote it): builds the CUDA kernel tests of tests/cuda_emu/ with
# nvcc for the GPU present (tests/cuda_emu/native_shim.h replaces the
# emulator's schedule API), runs them natively and under compute-sanitizer
# (memcheck, racecheck, synccheck), times the ResNet-11 convolutions
# (kernels/cuda/bench/bench_resnet11.cpp), compares the own GEMM kernels with
# cuBLAS SGEMM (kernels/cuda/bench/bench_cublas.cpp: both against a double
# reference, then timed), builds the GPU `ecgcnn` (-DECG_CUDA=ON, as
# tools/ci/cuda_gpu_build.sh, for this GPU) and runs the CLI tests' commands
# (tests/cuda_emu/test_engine_cli.cpp) with --device cuda natively, with the
# own GEMMs and with ECG_CUDA_GEMM=cublas, times a training step of each, and
# appends the results, dated, with the device name, to bench/RESULTS.md.
#
# Usage: tools/ci/cuda_gpu_check.sh            (NVCC, ECG_CUDA_ARCH=native override)
#        ECG_GPU_CHECK_NO_RESULTS=1 ...        (print, do not append)
set -euo pipefail
cd "$(dirname "$0")/../.."
nvcc=${NVCC:-/usr/local/cuda/bin/nvcc}
arch=${ECG_CUDA_ARCH:-native}
out=build-cuda-gpu
mkdir -p "$out"
flags=(-x cu -std=c++17 -O2 -I. -arch="$arch" -Xcompiler -Wall,-Wno-unknown-pragmas)
libs=(-lgtest -lgtest_main -lpthread)
start=$(date +%s)

echo "== build (nvcc, -arch=$arch)"
"$nvcc" "${flags[@]}" tests/cuda_emu/test_fast_divmod.cpp tests/cuda_emu/test_conv2d.cpp \
  tests/cuda_emu/test_batch_norm.cpp tests/cuda_emu/test_pool.cpp \
  tests/cuda_emu/test_elementwise_loss.cpp tests/cuda_emu/test_linear.cpp \
  -o "$out/cuda_kernel_tests" "${libs[@]}"
"$nvcc" "${flags[@]}" tests/cuda_emu/test_conv_int8.cpp tests/cuda_emu/test_pool_int8.cpp \
  -o "$out/cuda_int8_tests" "${libs[@]}"
"$nvcc" "${flags[@]}" tests/cuda_emu/test_sgemm_tiled.cpp -o "$out/cuda_sgemm_tests" "${libs[@]}"
"$nvcc" "${flags[@]}" tests/cuda_emu/test_training_chain.cpp -o "$out/cuda_chain_tests" "${libs[@]}"
"$nvcc" "${flags[@]}" kernels/cuda/bench/bench_resnet11.cpp -o "$out/bench_resnet11"
"$nvcc" "${flags[@]}" kernels/cuda/bench/bench_cublas.cpp -o "$out/bench_cublas" -lcublas

echo "== build ecgcnn with the CUDA engine (-DECG_CUDA=ON, CMAKE_CUDA_ARCHITECTURES=$arch)"
gpu_build=build-cuda-ecgcnn-native
cmake -S . -B "$gpu_build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DECG_CUDA=ON \
  -DCMAKE_CUDA_COMPILER="$nvcc" -DCMAKE_CUDA_ARCHITECTURES="$arch" \
  -DECG_BUILD_TESTS=OFF -DECG_BUILD_BENCH=OFF >/dev/null
cmake --build "$gpu_build" -j "$(nproc)" --target ecgcnn
ecgcnn="$(pwd)/$gpu_build/tools/ecgcnn"
g++ -std=c++17 -O2 -I. -DECG_CLI_NATIVE_GPU -DECG_CLI_PATH="\"$ecgcnn\"" \
  tests/cuda_emu/test_engine_cli.cpp -o "$out/cuda_engine_cli_tests_native" "${libs[@]}"

status=0
report="$out/report.md"
{
  echo
  echo "### Native run, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1)"
  echo
  echo "Command: \`tools/ci/cuda_gpu_check.sh\` (nvcc $("$nvcc" --version | tail -1))."
  echo
} >"$report"
for t in cuda_kernel_tests cuda_int8_tests cuda_sgemm_tests cuda_chain_tests; do
  echo "== $t"
  if "$out/$t" >"$out/$t.log" 2>&1; then r=passed; else r=FAILED; status=1; cat "$out/$t.log"; fi
  echo "- $t natively: $r ($(grep -E '^\[  PASSED|^\[  FAILED' "$out/$t.log" | head -1))" | tee -a "$report"
  for tool in memcheck racecheck synccheck; do
    if compute-sanitizer --tool "$tool" --error-exitcode 1 "$out/$t" >"$out/$t.$tool.log" 2>&1; then
      r=clean
    else
      r=ERRORS
      status=1
      tail -30 "$out/$t.$tool.log"
    fi
    echo "- $t under compute-sanitizer $tool: $r" | tee -a "$report"
  done
done
for gemm in own cublas; do
  echo "== ecgcnn --device cuda, CLI tests' commands, ECG_CUDA_GEMM=$gemm"
  if ECG_CUDA_GEMM=$gemm "$out/cuda_engine_cli_tests_native" >"$out/cli_$gemm.log" 2>&1; then
    r=passed
  else
    r=FAILED
    status=1
    cat "$out/cli_$gemm.log"
  fi
  echo "- ecgcnn train/eval/infer/bench --device cuda against --device cpu (test_engine_cli.cpp), ECG_CUDA_GEMM=$gemm: $r" |
    tee -a "$report"
done
echo "== bench"
"$out/bench_resnet11" | tee -a "$report"
echo | tee -a "$report"
echo "Own GEMM kernels vs cuBLAS SGEMM (kernels/cuda/bench/bench_cublas.cpp):" | tee -a "$report"
echo | tee -a "$report"
if ! "$out/bench_cublas" | tee -a "$report"; then status=1; fi
echo | tee -a "$report"
echo "ResNet-11 training step, 224 px, batch 16 (\`ecgcnn bench --device cuda --mode train\`):" |
  tee -a "$report"
echo | tee -a "$report"
for gemm in own cublas; do
  if ! line=$(ECG_CUDA_GEMM=$gemm "$ecgcnn" bench --device cuda --mode train --model resnet11 \
    --image-size 224 --batch 16 --steps 10 --warmup 2 --json 2>&1 | tail -1); then
    line="FAILED: $line"
    status=1
  fi
  echo "- ECG_CUDA_GEMM=$gemm: $line" | tee -a "$report"
done
echo "cuda_gpu_check: $(($(date +%s) - start)) s, status $status"
if [ -z "${ECG_GPU_CHECK_NO_RESULTS:-}" ]; then
  cat "$report" >>bench/RESULTS.md
  echo "appended to bench/RESULTS.md"
fi
exit $status
