// Per-thread scratch buffers for the CPU kernels (packed GEMM panels, im2col
// tiles, transformed weights). Buffers grow and are never freed, so steady-state
// calls do no allocation and take no page faults on fresh memory.
// Compiled once with baseline flags: ISA units call it, never inline it.
#pragma once
#include <cstddef>

namespace ecg::cpu {

// Slots let one thread hold several live buffers at once.
enum ScratchSlot : int {
  kScratchPackA = 0,
  kScratchPackB,
  kScratchTile,
  kScratchWeights,
  kScratchSlots
};

// Returns a 64-byte-aligned buffer of at least `floats` floats owned by the
// calling thread for `slot`; the contents are unspecified.
float* thread_scratch(int slot, size_t floats);

// FMA peak and bandwidth probes for the benchmarks (kernels/cpu/x86/*.cpp).
// Each runs `iters` iterations of 10 independent FMA chains on one thread and
// returns the FLOPs executed.
double fma_probe_avx512(long iters);
double fma_probe_avx2(long iters);

}  // namespace ecg::cpu
