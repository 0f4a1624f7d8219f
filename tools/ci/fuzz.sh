#!/usr/bin/env bash
# Builds the libFuzzer targets (clang; ASan + UBSan over the ecg library,
# libFuzzer coverage on the parsers, tests/fuzz/CMakeLists.txt) and runs each
# for FUZZ_SECONDS (default 30) from its committed seeds, two at a time. Any
# crash, leak, timeout or out-of-memory fails the script; the input that
# caused it is left in build-fuzz/fuzz-work/<target>/artifacts/ (make it a
# regression test). Skipped with a message where clang++ is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${FUZZ_SECONDS:-30}
if ! command -v clang++ >/dev/null; then
  echo "fuzz: clang++ not found, skipped"
  exit 0
fi
# libFuzzer's runtime comes with Debian's libclang-rt-<version>-dev, which a
# fresh machine may lack: installed here when running as root.
fuzzer_links() {
  echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' |
    clang++ -x c++ -fsanitize=fuzzer - -o /tmp/ecg_fuzz_probe.$$ >/dev/null 2>&1
}
if ! fuzzer_links; then
  rt="libclang-rt-$(clang++ --version | grep -o 'version [0-9]*' | grep -o '[0-9]*')-dev"
  if [ "$(id -u)" -eq 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$rt" >/dev/null 2>&1 || true
  fi
  if ! fuzzer_links; then
    echo "fuzz: SKIPPED, clang cannot link -fsanitize=fuzzer (install $rt); no fuzz target ran"
    exit 0
  fi
fi
rm -f /tmp/ecg_fuzz_probe.$$
# The compiler cache of .ci/run and tools/setup.sh, when present.
launcher=()
if command -v ccache >/dev/null 2>&1; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DECG_FUZZ=ON -DECG_SANITIZE=ON \
  -DECG_BUILD_BENCH=OFF -DECG_CUDA=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" >/dev/null
cmake --build build-fuzz -j "$(nproc)" --target fuzz_decode fuzz_safetensors fuzz_train_state \
  fuzz_int8_model fuzz_npy fuzz_train_config

# run TARGET SEED_DIR...: fuzzes into a scratch corpus (the committed seeds stay as they are).
run() {
  local target=$1
  shift
  local work=build-fuzz/fuzz-work/$target
  rm -rf "$work"
  mkdir -p "$work/corpus" "$work/artifacts"
  if ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "build-fuzz/tests/fuzz/$target" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$work/artifacts/" -print_final_stats=1 "$work/corpus" "$@" \
    >"$work/log" 2>&1; then
    echo "fuzz: $target: $(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$work/log" |
      grep -o '[0-9]*$') executions in ${secs} s, no finding"
  else
    echo "fuzz: $target FAILED; last lines of $work/log:"
    tail -40 "$work/log"
    return 1
  fi
}

f=tests/fuzz
status=0
pairs=("fuzz_decode $f/corpus $f/seeds" "fuzz_safetensors $f/seeds_safetensors"
  "fuzz_train_state $f/seeds_state $f/seeds_safetensors" "fuzz_int8_model $f/seeds_int8"
  "fuzz_npy $f/seeds_npy" "fuzz_train_config $f/seeds_train_config")
for ((i = 0; i < ${#pairs[@]}; i += 2)); do
  # shellcheck disable=SC2086
  run ${pairs[i]} &
  a=$!
  b=""
  if ((i + 1 < ${#pairs[@]})); then
    # shellcheck disable=SC2086
    run ${pairs[i + 1]} &
    b=$!
  fi
  wait "$a" || status=1
  if [ -n "$b" ]; then wait "$b" || status=1; fi
done
exit $status
