// Shared pieces of the kernel benchmarks: the machine peaks measured by this
// binary at start-up, the convolution shape table, buffers and counters.
#pragma once
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "kernels/kernel_api.h"

namespace ecg::bench {

struct Peaks {
  double fma_gflops = 0;  // FP32 FMA peak with the benchmark thread count
  double bw_gbs = 0;      // scale kernel, bytes read + written
  int threads = 1;
  const char* fma_isa = "";
};
// Measured once in main() before any benchmark runs.
Peaks measure_peaks(int threads);
const Peaks& peaks();
void set_peaks(const Peaks& p);

// GFLOP/s and fraction of the FMA peak, as rates over the iterations.
inline void set_flop_counters(benchmark::State& st, double flops_per_iter) {
  st.counters["GFLOP/s"] =
      benchmark::Counter(flops_per_iter * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  st.counters["peak_frac"] = benchmark::Counter(flops_per_iter * 1e-9 / peaks().fma_gflops,
                                                benchmark::Counter::kIsIterationInvariantRate);
}
inline void set_byte_counters(benchmark::State& st, double bytes_per_iter) {
  st.counters["GB/s"] =
      benchmark::Counter(bytes_per_iter * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  st.counters["bw_frac"] = benchmark::Counter(bytes_per_iter * 1e-9 / peaks().bw_gbs,
                                              benchmark::Counter::kIsIterationInvariantRate);
}

// 64-byte aligned float buffer with deterministic values in [-1, 1).
struct Buffer {
  float* p = nullptr;
  size_t n = 0;
  explicit Buffer(size_t count, uint32_t seed = 1, float scale = 1.f);
  ~Buffer() { std::free(p); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
};

struct ConvLayer {
  std::string name;  // e.g. r11_3x3_16-64_224
  const char* nets;  // which models use it
  int C, H, W, K, R, S, stride;
  bool same;  // TensorFlow "same" (else valid)
};
const std::vector<ConvLayer>& conv_layers();
Conv2dShape make_conv_shape(const ConvLayer& l, int N);

void register_gemm_conv_benchmarks();
void register_memory_bound_benchmarks();
void register_peer_benchmarks();

}  // namespace ecg::bench
