// Machine peaks measured by the benchmark binary itself, so every "fraction of
// peak" is taken against the same machine state as the kernel it divides:
// kernels/peak_probe.h (FMA chains of the active level's widest vector, each
// thread rated on its own CPU time; a streaming scale beyond the last-level
// cache for bandwidth).
#include <cstring>

#include "bench/kernels/bench_common.h"
#include "kernels/cpu_features.h"
#include "kernels/peak_probe.h"

namespace ecg::bench {

namespace {
Peaks g_peaks;
}  // namespace

const Peaks& peaks() {
  return g_peaks;
}
void set_peaks(const Peaks& p) {
  g_peaks = p;
}

Buffer::Buffer(size_t count, uint32_t seed, float scale) : n(count) {
  size_t bytes = ((count * sizeof(float) + 63) / 64) * 64;
  p = static_cast<float*>(std::aligned_alloc(64, bytes ? bytes : 64));
  uint32_t s = seed * 2654435761u + 12345u;
  for (size_t i = 0; i < count; ++i) {
    s ^= s << 13, s ^= s >> 17, s ^= s << 5;
    p[i] = scale * (static_cast<float>(s >> 8) * (2.f / 16777216.f) - 1.f);
  }
}

Peaks measure_peaks(int threads) {
  // The probes of kernels/peak_probe.h (the profiler's too), at the active
  // level, so both tools divide by the same peak.
  Peaks pk;
  pk.threads = threads;
  pk.fma_isa = fp32_peak_instructions(active_isa());
  pk.fma_gflops = measure_fp32_fma_peak(threads, active_isa());
  pk.bw_gbs = measure_bandwidth(threads);
  return pk;
}

}  // namespace ecg::bench
