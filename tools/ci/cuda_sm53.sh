#!/usr/bin/env bash
# Compiles every .cu of the repository for sm_53 (the Jetson Nano's Maxwell
# GPU) with -std=c++14, as the Nano's CUDA 10.2 would. CUDA 13 cannot target
# sm_53; Debian 12's non-free nvidia-cuda-toolkit 11.8 still can. This catches
# what the Nano rejects: __dp4a (sm_61+), atomicAdd(double*) (sm_60+),
# C++17 features nvcc flags in C++14 mode (if constexpr, ...), and more than
# 48 KiB of static shared memory.
#
# The toolkit is fetched with `apt-get download` through a private apt
# configuration (sources list, lists and cache under the toolkit folder; the
# system's apt sources are not touched) and unpacked with dpkg -x into
# ${ECG_CUDA118_DIR:-.cache/cuda-11.8} (git-ignored). Only nvcc's own package
# and the headers of nvidia-cuda-dev are kept (~200 MB), then reused: set
# ECG_CUDA118_DIR to a folder outside the clone to keep it across CI runs.
# First run: ~2 min on 2 busy cores (858 MB download, mostly xz unpacking);
# cached: a few seconds per .cu file.
#
# Usage: tools/ci/cuda_sm53.sh [files.cu...]   (default: every tracked .cu)
set -euo pipefail
cd "$(dirname "$0")/../.."
start=$(date +%s)

root_dir=$(realpath -m "${ECG_CUDA118_DIR:-.cache/cuda-11.8}")
tk="$root_dir/root"
stamp="$root_dir/.unpacked-11.8.89"

fetch_toolkit() {
  if ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null; then
    echo "cuda_sm53: apt-get/dpkg-deb not available; cannot fetch CUDA 11.8" >&2
    return 1
  fi
  local apt="$root_dir/apt"
  rm -rf "$apt" "$tk"
  mkdir -p "$apt/lists/partial" "$apt/archives/partial" "$apt/parts" "$apt/debs" "$tk"
  local keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  local mirror=${ECG_DEBIAN_MIRROR:-http://deb.debian.org/debian}
  echo "deb [signed-by=$keyring] $mirror bookworm main contrib non-free" >"$apt/sources.list"
  local opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o "Dir::Etc::SourceParts=$apt/parts"
    -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt" -o "Dir::Cache::archives=$apt/archives"
    -o "APT::Sandbox::User=root" -o "Debug::NoLocking=1")
  [ "$(id -u)" = 0 ] || opts+=(-o "APT::Sandbox::User=$(id -un)")
  echo "cuda_sm53: fetching nvidia-cuda-toolkit 11.8 (Debian 12 non-free) into $root_dir"
  apt-get "${opts[@]}" -qq update
  (cd "$apt/debs" && apt-get "${opts[@]}" -qq download nvidia-cuda-toolkit nvidia-cuda-dev)
  dpkg -x "$apt"/debs/nvidia-cuda-toolkit_*.deb "$tk"
  # nvidia-cuda-dev is 2.8 GB unpacked, almost all static libraries; nvcc
  # needs only its headers.
  dpkg-deb --fsys-tarfile "$apt"/debs/nvidia-cuda-dev_*.deb | tar -x -C "$tk" ./usr/include
  rm -rf "$apt/debs" "$apt/archives"
  # The package's nvcc.profile is a link to /etc; point one at this tree.
  local bin="$tk/usr/lib/nvidia-cuda-toolkit/bin"
  rm -f "$bin/nvcc.profile" "$bin/g++" "$bin/gcc"  # Debian's wrappers look for g++-11
  cat >"$bin/nvcc.profile" <<PROFILE
NVVMIR_LIBRARY_DIR = $tk/usr/lib/nvidia-cuda-toolkit/libdevice
PATH += $bin:$tk/usr/bin:
INCLUDES += "-I$tk/usr/include" \$(_SPACE_)
PROFILE
  touch "$stamp"
}

if [ ! -f "$stamp" ]; then
  fetch_toolkit
  echo "cuda_sm53: toolkit ready after $(($(date +%s) - start)) s"
else
  echo "cuda_sm53: using cached CUDA 11.8 in $root_dir"
fi
nvcc="$tk/usr/lib/nvidia-cuda-toolkit/bin/nvcc"
"$nvcc" --version | tail -2

. tools/ci/cuda_compile_each.sh
cuda_cu_files cuda_sm53 "$@" || exit 0

# CUDA 11.8 predates GCC 12 (Debian 12's compiler); the device code does not
# depend on the host compiler's version, so it is allowed explicitly.
flags=(-std=c++14 -I. -ccbin "${CXX:-g++}" -allow-unsupported-compiler
  -gencode arch=compute_53,code=[sm_53,compute_53]
  -Werror all-warnings -Xptxas -v,-warn-spills,-warn-lmem-usage)
cuda_compile_each build-cuda-sm53 "ok   sm_53" "FAIL sm_53"
echo "resource report for sm_53 (ptxas -v):"
bash tools/ci/cuda_resource_report.sh "$log"
echo "cuda_sm53: ${#files[@]} files, ptxas report in $log ($(($(date +%s) - start)) s)"
exit $status
