#!/usr/bin/env bash
# Predicts the inner-loop throughput of the AArch64 micro-kernels on a
# Cortex-A57 (the Jetson Nano's core) with llvm-mca, from the assembly the
# cross compiler really emits for the project's units (same flags as the
# CMake build), so a compiler or source change shows up in the prediction.
#
#   bash bench/arm/mca.sh            # needs g++-aarch64-linux-gnu and llvm-mca(-14)
#
# For each kernel: the loop is the innermost block that ends in a backward
# branch to the label just before the first instruction of the given
# pattern. Prints llvm-mca's summary and the derived fraction of peak:
#   FP32 : 8 FLOP/cycle/core (one 128-bit FMLA per cycle)
#   INT8 : 8 MAC/cycle/core  (one SMULL/SMLAL2 per cycle on the F0 pipe, 8 MAC each)
set -euo pipefail
cd "$(dirname "$0")/../.."
CXX=${CXX_AARCH64:-aarch64-linux-gnu-g++}
MCA=$(command -v llvm-mca-14 || command -v llvm-mca)
OUT=${ECG_MCA_OUT:-$(mktemp -d)}
COMMON=(-std=c++17 -O3 -DNDEBUG -fopenmp -I. -Wall -Wextra -Wno-unused-parameter)

# extract <asm> <first-instruction regex> -> the loop body on stdout
extract() {
  awk -v pat="$2" '
    /^\.L[0-9]+:/ { label = substr($1, 1, length($1) - 1); buf = ""; next }
    !found && $0 ~ pat { found = 1; loop = label }
    { if (label != "") buf = buf $0 "\n" }
    found && $1 ~ /^b/ && $NF == loop { printf "%s", buf; exit }
  ' "$1" | grep -v '^\s*\.'
}

# tap_path <asm> <first-instruction regex> -> the straight-line path of one
# trip of the loop *around* that inner loop when the inner loop runs once:
# outer head + inner body + outer latch. For the int8 kernel that is one
# filter tap of a layer with 16 input channels (stage 0 of ResNet-11), where
# the per-tap pointer work could cost as much as the multiplies.
tap_path() {
  python3 - "$1" "$2" <<'PY'
import re, sys
lines = open(sys.argv[1]).read().split("\n")
labels = {m.group(1): i for i, l in enumerate(lines) for m in [re.match(r"^(\.L\d+):", l)] if m}
first = next(i for i, l in enumerate(lines) if re.search(sys.argv[2], l))
a = max(v for v in labels.values() if v < first)
inner = lines[a][:-1]
b = next(i for i in range(first, len(lines))
         if re.match(r"^\s+b\S*\s+" + re.escape(inner) + "$", lines[i]))
for c in range(b + 1, len(lines)):
    m = re.match(r"^\s+b\S*\s+(\.L\d+)$", lines[c])
    if m and labels.get(m.group(1), len(lines)) < a:
        outer = labels[m.group(1)]
        break
body = lines[outer + 1:a] + lines[a + 1:b] + lines[b + 1:c + 1]
print("\n".join(l for l in body if l.strip() and not l.strip().startswith(".")))
PY
}

# predict <name> <asm> <pattern> <work per iteration> <unit> <peak per cycle> [extractor]
predict() {
  local name=$1 asm=$2 pat=$3 work=$4 unit=$5 peak=$6 how=${7:-extract}
  "$how" "$asm" "$pat" >"$OUT/$name.loop.s"
  local report cycles
  report=$("$MCA" -mtriple=aarch64 -mcpu=cortex-a57 -iterations=1000 "$OUT/$name.loop.s")
  cycles=$(echo "$report" | awk '/^Total Cycles:/ {print $3}')
  echo "== $name: $(wc -l <"$OUT/$name.loop.s") instructions per iteration, $work $unit"
  echo "$report" | sed -n '/^Iterations:/,/^Block RThroughput:/p'
  awk -v c="$cycles" -v w="$work" -v p="$peak" -v u="$unit" 'BEGIN {
    cpi = c / 1000; printf "   %.2f cycles/iteration -> %.2f %s/cycle = %.0f %% of the A57 peak (%d %s/cycle)\n",
      cpi, w / cpi, u, 100 * w / cpi / p, p, u }'
}

"$CXX" "${COMMON[@]}" -march=armv8-a -fno-math-errno -S -o "$OUT/neon.s" kernels/cpu/arm/neon.cpp
"$CXX" "${COMMON[@]}" -march=armv8-a -fno-schedule-insns -DECG_INT8_ARM=1 -S \
  -o "$OUT/int8_neon.s" kernels/cpu/int8/conv_int8_neon.cpp
"$CXX" "${COMMON[@]}" -march=armv8-a -DECG_INT8_ARM=1 -S \
  -o "$OUT/int8_neon_sched.s" kernels/cpu/int8/conv_int8_neon.cpp
"$CXX" "${COMMON[@]}" -march=armv8-a -fno-schedule-insns -DECG_INT8_ARM=1 -S \
  -o "$OUT/epilogue.s" bench/arm/epilogue_probe.cpp

# cycles <name> <asm> <pattern> <what one iteration is>: llvm-mca's steady
# state of a loop that is overhead, not arithmetic (no fraction of peak).
cycles() {
  local name=$1 asm=$2 pat=$3 what=$4
  extract "$asm" "$pat" >"$OUT/$name.loop.s"
  local c
  c=$("$MCA" -mtriple=aarch64 -mcpu=cortex-a57 -iterations=1000 "$OUT/$name.loop.s" |
    awk '/^Total Cycles:/ {print $3}')
  awk -v c="$c" -v n="$name" -v w="$what" -v i="$(wc -l <"$OUT/$name.loop.s")" \
    'BEGIN { printf "== %s: %d instructions, %.2f cycles per %s\n", n, i, c / 1000, w }'
}

# 8x12 tile: 24 FMLA x 4 lanes x 2 FLOP per k step.
predict sgemm_8x12_fmla_lane "$OUT/neon.s" 'fmla\tv[0-9]+\.4s, v[0-9]+\.4s, v[0-9]+\.s\[' 192 FLOP 8
# 4 pixels x 4 channels x 16 input channels per step.
predict int8_4x4x16_smull_sadalp "$OUT/int8_neon.s" 'smull\tv[0-9]+\.8h' 256 MAC 8
# One tap of a 16-input-channel layer: the inner loop runs once per tap.
predict int8_tap_16ch_one_group "$OUT/int8_neon.s" 'smull\tv[0-9]+\.8h' 256 MAC 8 tap_path
# The same source with GCC's default pre-RA scheduling (why the unit turns it off).
predict int8_4x4x16_default_sched "$OUT/int8_neon_sched.s" 'smull\tv[0-9]+\.8h' 256 MAC 8
# The int8 epilogue per (pixel, 4 output channels).
cycles int8_epilogue_plain "$OUT/epilogue.s" 'sshl\tv[0-9]+\.2d' "pixel x 4 channels, int8 out"
cycles int8_epilogue_residual "$OUT/epilogue.s" 'sxtl\tv[0-9]+\.8h' "pixel x 4 channels, int8 out + residual add"
echo "loops and assembly in $OUT"
