// The machine's int8 peaks as this binary sees them, from the probes of
// kernels/peak_probe.h (the profiler's too): independent vpdpbusd zmm chains
// for AVX-512 VNNI, and the AVX2 kernel's vpmaddubsw + vpmaddwd + vpaddd step
// without VNNI, one OpenMP thread per ecg::num_threads(), each rated on its
// own CPU time.
#include "kernels/int8_api.h"
#include "kernels/peak_probe.h"

namespace bench_int8 {

// Ops per second (2 per multiply-add) summed over `threads`; 0 when not built
// or the CPU lacks AVX-512 VNNI.
double vnni_peak_ops(int threads) {
  return ecg::measure_int8_kernel_peak(ecg::int8::Int8Kernel::Avx512Vnni, threads) * 1e9;
}

// The AVX2 int8 peak without VNNI; 0 when the CPU lacks AVX2 or this is not x86.
double avx2_maddubs_peak_ops(int threads) {
  return ecg::measure_int8_kernel_peak(ecg::int8::Int8Kernel::Avx2, threads) * 1e9;
}

}  // namespace bench_int8
