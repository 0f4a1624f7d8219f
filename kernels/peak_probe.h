// Machine peaks measured at run time, so every "% of peak" the profiler and
// the benchmarks print divides by what this machine does now, not by a data
// sheet figure.
//
//  - fp32: independent FMA chains (10 per thread) of the widest vector the
//    level runs (zmm for avx512, ymm for avx2, the compiler's baseline vectors
//    for generic/ref/neon), enough chains to hide the FMA latency.
//  - int8: the instruction sequence of the int8 kernel that the level runs
//    (kernels/int8_api.h int8_kernel_for): vpdpbusd zmm (AVX-512 VNNI),
//    vpdpbusd ymm (AVX-VNNI), vpmaddubsw + vpmaddwd + vpaddd (AVX2 without
//    VNNI), and a portable int32 multiply-add loop elsewhere.
//  - bandwidth: b[i] = s * a[i] over two arrays far beyond the last-level
//    cache, bytes read + written, best of five passes.
//
// Every probe sums each thread's rate on the thread's own CPU time: on a
// shared machine wall time would measure the neighbours. (Bandwidth: threads
// that the OS runs one after another each see the whole memory bus, so on a
// loaded machine the sum can exceed what they get together.) Each probe runs for
// roughly 50-100 ms.
#pragma once

#include "kernels/cpu_features.h"
#include "kernels/int8_api.h"

namespace ecg {

// GFLOP/s (2 per FMA) of `threads` threads at ISA `level` (a level this CPU
// supports; throws otherwise).
double measure_fp32_fma_peak(int threads, Isa level);
inline double measure_fp32_fma_peak(int threads) {
  return measure_fp32_fma_peak(threads, active_isa());
}

// GOP/s (2 per multiply-add) of the int8 kernel `level` runs.
double measure_int8_peak(Isa level, int threads);
// ... of one int8 kernel's instructions (0 when this CPU or build lacks it);
// the benchmarks rate each kernel they force against its own peak.
double measure_int8_kernel_peak(int8::Int8Kernel kernel, int threads);

// GB/s of a streaming scale over `threads` threads.
double measure_bandwidth(int threads);

// The instructions each probe times at `level`, for reports ("vpdpbusd zmm").
const char* fp32_peak_instructions(Isa level);
const char* int8_peak_instructions(Isa level);
const char* int8_kernel_peak_instructions(int8::Int8Kernel kernel);

}  // namespace ecg
