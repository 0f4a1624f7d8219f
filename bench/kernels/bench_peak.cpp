// Machine peaks measured by the benchmark binary itself, so every "fraction of
// peak" is taken against the same machine state as the kernel it divides.
//  - FMA: each thread runs 10 independent vector FMA chains (AVX-512 when the
//    CPU has it, else AVX2); the chains hide the FMA latency on both ports.
//  - Bandwidth: b[i] = s * a[i] over two 256 MiB arrays (beyond the last-level
//    cache), counting bytes read + written, best of a few passes.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "bench/kernels/bench_common.h"
#include "kernels/cpu/scratch.h"
#include "kernels/cpu_features.h"

namespace ecg::bench {

namespace {
Peaks g_peaks;
double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
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
  Peaks pk;
  pk.threads = threads;
#if defined(ECG_HAVE_AVX512_KERNELS) && defined(ECG_HAVE_AVX2_KERNELS)
  const bool avx512 = cpu_features().avx512f;
  pk.fma_isa = avx512 ? "avx512" : "avx2";
#else
  const bool avx512 = false;
  pk.fma_isa = "none";
#endif
  double best = 0;
  for (int rep = 0; rep < 3; ++rep) {
    const long iters = 20000000;
    double flops = 0;
    const double t0 = now();
#pragma omp parallel num_threads(threads) reduction(+ : flops)
    {
#if defined(ECG_HAVE_AVX512_KERNELS) && defined(ECG_HAVE_AVX2_KERNELS)
      flops += avx512 ? cpu::fma_probe_avx512(iters) : cpu::fma_probe_avx2(iters);
#else
      (void)avx512;
      flops += 1.0;  // no probe on this architecture: fractions are meaningless
#endif
    }
    best = std::max(best, flops / (now() - t0) * 1e-9);
  }
  pk.fma_gflops = best;

  const size_t n = size_t(64) << 20;  // 64 Mi floats = 256 MiB per array
  float* a = static_cast<float*>(std::aligned_alloc(64, n * sizeof(float)));
  float* b = static_cast<float*>(std::aligned_alloc(64, n * sizeof(float)));
#pragma omp parallel for num_threads(threads) schedule(static)
  for (size_t i = 0; i < n; ++i) a[i] = 1.f, b[i] = 0.f;  // first touch by the same threads
  double bw = 0;
  for (int rep = 0; rep < 4; ++rep) {
    const double t0 = now();
#pragma omp parallel for simd num_threads(threads) schedule(static)
    for (size_t i = 0; i < n; ++i) b[i] = 1.0001f * a[i];
    bw = std::max(bw, 2.0 * n * sizeof(float) / (now() - t0) * 1e-9);
    std::swap(a, b);
  }
  std::free(a);
  std::free(b);
  pk.bw_gbs = bw;
  return pk;
}

}  // namespace ecg::bench
