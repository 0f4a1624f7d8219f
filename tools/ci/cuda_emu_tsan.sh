#!/usr/bin/env bash
# ThreadSanitizer job for the CUDA emulator: builds only the emulator tests
# with -fsanitize=thread and runs them. In this build every emulated CUDA
# thread is a TSan fiber, synchronised only where CUDA synchronises
# (barriers, warp collectives, launch boundaries), so a data race between
# threads of a block, or between blocks, is reported whatever the thread
# order; the tests fail on any race they did not plant.
# Also builds and runs the backend's kernel tests (cuda_kernel_tests,
# cuda_int8_tests*, cuda_fp16_tests) the same way. Takes about 3 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
start=$(date +%s)
build=build-cuda-tsan

cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS=-fsanitize=thread -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread \
  -DECG_BUILD_BENCH=OFF -DECG_BUILD_TOOLS=OFF -DECG_CUDA=OFF -DECG_OPENMP=OFF >/dev/null
if ! grep -q "cuda_emu_tests" "$build/build.ninja"; then
  echo "cuda_emu_tsan: CUDA emulator not configured (no CUDA headers or Boost.Context); skipped"
  exit 0
fi
kernel_tests=()
for t in cuda_kernel_tests cuda_int8_tests cuda_int8_tests_sm61 cuda_fp16_tests cuda_chain_tests; do
  grep -q "build tests/cuda_emu/$t:" "$build/build.ninja" && kernel_tests+=("$t")
done
cmake --build "$build" -j "$(nproc)" --target cuda_emu_tests cuda_emu_tests_sm61 "${kernel_tests[@]}"

# exitcode=0: the planted races are expected reports; unplanted ones fail the
# test through ecg::cuda_emu::race_reports(). The race-detector test runs in
# its own process because TSan reports each pair of stacks only once per process.
export TSAN_OPTIONS="halt_on_error=0 exitcode=0 ${TSAN_OPTIONS:-}"
status=0
for t in cuda_emu_tests cuda_emu_tests_sm61; do
  bin="$build/tests/cuda_emu/$t"
  for part in main race-detector; do
    filter="-*RaceDetector*"
    [ "$part" = race-detector ] && filter="*RaceDetector*"
    log="$build/$t.$part.log"
    if ! "$bin" --gtest_filter="$filter" >"$log" 2>&1; then
      cat "$log"
      status=1
    fi
    grep -E "^\[  (PASSED|FAILED)" "$log" | sed "s|^|  $t ($part): |"
  done
done
# The backend's kernels (kernels/cuda/*.cuh): any race report fails them.
for t in "${kernel_tests[@]}"; do
  log="$build/$t.log"
  if ! "$build/tests/cuda_emu/$t" >"$log" 2>&1; then
    cat "$log"
    status=1
  fi
  grep -E "^\[  (PASSED|FAILED)" "$log" | sed "s|^|  $t: |"
done
echo "cuda_emu_tsan: $(cat "$build"/*.log | grep -c 'WARNING: ThreadSanitizer') race reports (planted ones expected), $(($(date +%s) - start)) s"
exit $status
