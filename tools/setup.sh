#!/usr/bin/env bash
# One entry point for a fresh Debian 12 machine:
#   bash tools/setup.sh --run    install what is missing, build, run the main job
#   bash tools/setup.sh --test   install what is missing, build, run the test suite
#   bash tools/setup.sh --deps   only install (or print the install line)
# Missing Debian packages are installed with apt-get when running as root;
# otherwise the exact install command is printed and the script stops.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD_DIR=${ECG_BUILD_DIR:-$ROOT/build}
JOBS=${ECG_JOBS:-$(nproc)}

# Build and test needs; libdnnl/openblas are optional benchmark peers. Open MPI
# carries data-parallel training (mpirun -np N ecgcnn train); libonnx with
# protobuf reads and writes ONNX files; libonnx-testdata holds ONNX's node tests.
REQUIRED_PACKAGES=(cmake ninja-build g++ pkg-config libgtest-dev libbenchmark-dev
  libjpeg62-turbo-dev libpng-dev libcli11-dev nlohmann-json3-dev clang-format
  libboost-context-dev zlib1g-dev
  openmpi-bin libopenmpi-dev libonnx-dev libprotobuf-dev libonnx-testdata)
# ccache (optional) keeps compiled objects outside the clone, so a fresh clone
# (CI, a second checkout) rebuilds only what changed.
OPTIONAL_PACKAGES=(libdnnl-dev libopenblas-dev ccache)

missing_packages() {
  local p
  for p in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      echo "$p"
    fi
  done
}

install_deps() {
  local missing optional
  missing=$(missing_packages "${REQUIRED_PACKAGES[@]}")
  optional=$(missing_packages "${OPTIONAL_PACKAGES[@]}")
  if [ -z "$missing" ] && [ -z "$optional" ]; then
    echo "setup: all Debian packages present"
    return 0
  fi
  if [ "$(id -u)" -ne 0 ]; then
    if [ -n "$missing" ]; then
      echo "setup: missing packages; run this as root, then run this script again:" >&2
      echo "  apt-get update && apt-get install -y $(echo $missing $optional)" >&2
      exit 1
    fi
    echo "setup: optional benchmark peers missing (apt-get install -y $(echo $optional))"
    return 0
  fi
  echo "setup: installing $(echo $missing $optional)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq $missing >/dev/null
  if [ -n "$optional" ]; then
    apt-get install -y -qq $optional >/dev/null || echo "setup: optional peers unavailable; benchmarks skip them"
  fi
}

# With ccache present: one cache under ~/.cache/ecgcnn shared by every clone.
# Paths under the clone are hashed relative to it (CCACHE_BASEDIR), and the
# build folder is left out of the hash (CCACHE_NOHASHDIR; it only names the
# debug info's compile directory), so another clone of the same commit hits.
# .ci/run sets the same variables for its sanitizer build.
ECG_CACHE_FLAGS=()
setup_compiler_cache() {
  ECG_CACHE_FLAGS=()
  command -v ccache >/dev/null 2>&1 || return 0
  export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ecgcnn/ccache}
  export CCACHE_BASEDIR=$ROOT CCACHE_NOHASHDIR=1
  ccache --max-size 5G >/dev/null
  ECG_CACHE_FLAGS=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
}

build() {
  # -DECG_CUDA=OFF: the CPU program (a build dir configured before the option
  # defaulted to OFF may still hold ON in its cache).
  setup_compiler_cache
  cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DECG_CUDA=OFF \
    "${ECG_CACHE_FLAGS[@]}" "$@" >/dev/null
  cmake --build "$BUILD_DIR" -j "$JOBS"
}

mode=${1:---run}
case "$mode" in
  --deps)
    install_deps
    ;;
  --test)
    install_deps
    build -DECG_BUILD_BENCH=OFF
    ctest --test-dir "$BUILD_DIR" -j "$JOBS" --output-on-failure --timeout 900
    ;;
  --run)
    install_deps
    build
    "$ROOT/tools/main_job.sh" "$BUILD_DIR/tools/ecgcnn" "${ECG_RUN_DIR:-$ROOT/runs/main}"
    ;;
  *)
    echo "usage: bash tools/setup.sh [--run | --test | --deps]" >&2
    exit 2
    ;;
esac
