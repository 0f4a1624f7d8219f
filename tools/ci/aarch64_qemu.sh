#!/usr/bin/env bash
# Cross-builds the aarch64 library and its core, CPU-kernel and int8 test
# binaries (plus the int8 model's whole-network bit-exactness case), then runs
# them under qemu-aarch64 twice: as a Cortex-A57 (the
# Jetson Nano's ARMv8.0 core: NEON kernels, no dot product) and as `max`
# (every extension qemu knows, so the SDOT kernel runs too).
#
# Needs (Debian 12): g++-aarch64-linux-gnu, qemu-user, and through multiarch
# (dpkg --add-architecture arm64) the arm64 builds of libjpeg62-turbo-dev,
# libpng-dev and libgtest-dev to link against, and of libstdc++6 and libgomp1
# to run. Installed here when running as root.
#
# The binaries run on the multiarch arm64 runtime only (no qemu -L): the
# cross toolchain ships its own older glibc build (libc6-arm64-cross
# 2.36-8cross1), the multiarch libraries pull in Debian's current libc6:arm64,
# and with -L /usr/aarch64-linux-gnu qemu's prefix fallback loaded the first's
# ld.so with the second's libc.so.6. Their private structures differ, and the
# first pthread_create spun forever in glibc's stack-cache list.
# When the cross toolchain cannot be had (no root, no network), the script
# says why and exits 0 without claiming any test ran; anything that fails
# after the toolchain is there fails CI.
#
# Environment: ECG_ARM_BUILD_DIR (default build-arm), ECG_JOBS (default nproc).
# Release flags (-O3), as shipped: the test is of the code users run.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
BUILD=${ECG_ARM_BUILD_DIR:-$ROOT/build-arm}
JOBS=${ECG_JOBS:-$(nproc)}
start=$(date +%s)
stamp() { echo "== aarch64: $1 ($(($(date +%s) - start)) s)"; }

HOST_PKGS=(g++-aarch64-linux-gnu qemu-user)
ARM_PKGS=(libjpeg62-turbo-dev:arm64 libpng-dev:arm64 libgtest-dev:arm64 libstdc++6:arm64
  libgomp1:arm64)

missing() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
  done
}

unavailable() {
  echo "aarch64: SKIPPED, cross toolchain unavailable: $1" >&2
  echo "aarch64: no aarch64 test ran" >&2
  exit 0
}

need=$(missing "${HOST_PKGS[@]}" "${ARM_PKGS[@]}")
if [ -n "$need" ]; then
  stamp "installing $(echo $need)"
  [ "$(id -u)" -eq 0 ] || unavailable "not root; run: dpkg --add-architecture arm64 && apt-get update && apt-get install -y $(echo $need)"
  export DEBIAN_FRONTEND=noninteractive
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    dpkg --add-architecture arm64
  fi
  apt-get update -qq >/dev/null 2>&1 || unavailable "apt-get update failed (no network?)"
  if ! apt-get install -y -qq --no-install-recommends $need >/dev/null; then
    unavailable "apt-get install $(echo $need) failed"
  fi
fi
command -v aarch64-linux-gnu-g++ >/dev/null || unavailable "aarch64-linux-gnu-g++ not found"
command -v qemu-aarch64 >/dev/null || unavailable "qemu-aarch64 not found"

stamp "configure ($BUILD)"
cmake -S "$ROOT" -B "$BUILD" -G Ninja \
  -DCMAKE_TOOLCHAIN_FILE="$ROOT/cmake/toolchains/aarch64-linux-gnu.cmake" \
  -DCMAKE_BUILD_TYPE=Release \
  -DECG_CUDA=OFF -DECG_BUILD_BENCH=OFF -DECG_BUILD_TOOLS=OFF >/dev/null

# test_int8_model: only its whole-network bit-exactness case (every int8
# kernel against the reference on a quantized ResNet at 40 px, about a
# minute per CPU model under qemu); its training case would take many more.
TESTS=(test_core test_cpu_kernels test_int8 test_int8_model)
# The golden suites (PyTorch's float64 truth at every kernel level: ref,
# generic, neon) run once, as the A57: the float kernels are the same NEON code
# under both CPU models, only the int8 SDOT kernel differs.
FLOAT_TESTS=(test_golden)
declare -A TEST_DIR=([test_core]=core [test_cpu_kernels]=kernels [test_int8]=int8
  [test_int8_model]=quant [test_golden]=golden)
# test_golden: all but AlexNet (3 x 0.9 GMAC per step and level took most of
# the suite's 15 minutes under qemu on a loaded machine; it runs natively at
# every x86 level).
declare -A TEST_ARGS=(
  [test_int8_model]=--gtest_filter=Int8Model.EveryKernelIsBitExactWithTheReferenceOnTheWholeNetwork
  [test_golden]=--gtest_filter=-*AlexNet*)
stamp "build ${TESTS[*]} ${FLOAT_TESTS[*]}"
cmake --build "$BUILD" -j "$JOBS" --target "${TESTS[@]}" "${FLOAT_TESTS[@]}"

# Each binary runs as one process (not per-case through ctest): qemu's start-up
# is paid once per binary and CPU model. Tests run from the source root like
# ctest does, so relative data paths resolve.
# $2: whether the int8 SDOT kernel must be offered (HWCAP_ASIMDDP). The A57
# must not offer it and `max` must, or the two runs would test the same
# kernels (and a wrong HWCAP test would go unnoticed). $3...: more binaries.
run_all() {
  local cpu=$1 want_dot=$2
  local t log="$BUILD/qemu-$1.log"
  : >"$log"
  for t in "${TESTS[@]}" "${@:3}"; do
    stamp "qemu -cpu $cpu: $t"
    OMP_NUM_THREADS=2 qemu-aarch64 -cpu "$cpu" "$BUILD/tests/${TEST_DIR[$t]}/$t" \
      --gtest_brief=1 ${TEST_ARGS[$t]:-} | tee -a "$log" ||
      { echo "aarch64: $t FAILED under -cpu $cpu" >&2; exit 1; }
  done
  local have_dot=no
  grep -q "int8 kernel available: neon-dot" "$log" && have_dot=yes
  grep -q "int8 kernel available: neon$" "$log" ||
    { echo "aarch64: the ARMv8.0 int8 kernel did not run under -cpu $cpu" >&2; exit 1; }
  [ "$have_dot" = "$want_dot" ] ||
    { echo "aarch64: -cpu $cpu: SDOT kernel offered: $have_dot, expected $want_dot" >&2; exit 1; }
}

run_all cortex-a57 no "${FLOAT_TESTS[@]}"
run_all max yes
stamp "done"
