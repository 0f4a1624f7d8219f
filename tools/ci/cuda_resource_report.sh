#!/usr/bin/env bash
# Prints one line per kernel and architecture from a `ptxas -v` log:
# registers, static shared memory, stack frame and spill bytes (stores +
# loads). Used by cuda_compile_matrix.sh and cuda_sm53.sh; the numbers feed
# the occupancy estimates of the CUDA backend.
# Usage: tools/ci/cuda_resource_report.sh ptxas.log
set -euo pipefail
demangle=$(command -v c++filt || echo cat)
printf '  %-6s %5s %7s %6s %7s  %s\n' arch regs smem stack spills kernel
awk '
  /Compiling entry function/ {
    match($0, /function '"'"'[^'"'"']*'"'"'/); fn = substr($0, RSTART + 10, RLENGTH - 11)
    match($0, /for '"'"'sm_[0-9]+'"'"'/); arch = substr($0, RSTART + 5, RLENGTH - 6)
    stack = 0; spills = 0; next
  }
  /bytes stack frame/ { stack = $1; spills = $5 + $9; next }
  /Used [0-9]+ registers/ {
    regs = $5; smem = 0
    if (match($0, /[0-9]+ bytes smem/)) smem = substr($0, RSTART, RLENGTH - 11) + 0
    printf "  %-6s %5s %7s %6s %7s  %s\n", arch, regs, smem, stack, spills, fn
  }
' "$1" | "$demangle"
