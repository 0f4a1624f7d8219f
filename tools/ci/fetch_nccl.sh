#!/usr/bin/env bash
# NCCL's headers and library for the CUDA compile check of the data-parallel
# NCCL path (core/cuda/nccl_collective.cpp), on a machine whose CUDA toolkit
# has none. NCCL is not in Debian's main archive; NVIDIA publishes it on PyPI
# as the wheel nvidia-nccl-cu12, a zip holding nvidia/nccl/include/nccl.h and
# nvidia/nccl/lib/libnccl.so.2. It is fetched with curl (no Python), checked
# against its published sha256 and unpacked with unzip into
# ${ECG_NCCL_DIR:-$HOME/.cache/ecgcnn/nccl-2.28.9}, outside the clone, as the
# CUDA 11.8 toolkit of tools/ci/cuda_sm53.sh is; later runs reuse it.
# First run: a 297 MB download; then nothing.
#
# Usage: tools/ci/fetch_nccl.sh   prints the folder to pass as -DNCCL_ROOT=
set -euo pipefail
version=2.28.9
wheel=nvidia_nccl_cu12-$version-py3-none-manylinux_2_18_x86_64.whl
url=https://files.pythonhosted.org/packages/4a/4e/44dbb46b3d1b0ec61afda8e84837870f2f9ace33c564317d59b70bc19d3e/$wheel
sha256=485776daa8447da5da39681af455aa3b2c2586ddcf4af8772495e7c532c7e5ab
dir=$(realpath -m "${ECG_NCCL_DIR:-$HOME/.cache/ecgcnn/nccl-$version}")
root="$dir/nvidia/nccl"
if [ ! -f "$dir/.unpacked-$version" ]; then
  [ "$(uname -m)" = x86_64 ] || { echo "fetch_nccl: only the x86_64 wheel is pinned" >&2; exit 1; }
  command -v unzip >/dev/null || { echo "fetch_nccl: unzip not installed" >&2; exit 1; }
  rm -rf "$dir"
  mkdir -p "$dir"
  echo "fetch_nccl: downloading $wheel into $dir" >&2
  curl -fsSL --retry 3 -o "$dir/$wheel" "$url"
  echo "$sha256  $dir/$wheel" | sha256sum -c --quiet - >&2
  unzip -q "$dir/$wheel" 'nvidia/nccl/include/*' 'nvidia/nccl/lib/*' -d "$dir"
  rm -f "$dir/$wheel"
  touch "$dir/.unpacked-$version"
fi
[ -f "$root/include/nccl.h" ] && [ -f "$root/lib/libnccl.so.2" ] ||
  { echo "fetch_nccl: $root lacks include/nccl.h or lib/libnccl.so.2" >&2; exit 1; }
echo "$root"
