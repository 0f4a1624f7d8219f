// The machine's int8 peak as this binary sees it: independent vpdpbusd zmm
// chains (12 per thread, more than latency x throughput), one OpenMP thread
// per ecg::num_threads(). One vpdpbusd = 64 multiply-adds = 128 int8 ops.
#include <cstdint>

#include "core/runtime.h"
#if defined(ECG_BENCH_AVX512VNNI)
#include <immintrin.h>
#include <time.h>
// GCC 12 warns inside its own avx512fintrin.h (_mm512_undefined_epi32's
// `__Y = __Y`, GCC bug 105593); nothing uninitialized is read.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#endif

namespace bench_int8 {

// Ops per second (2 per multiply-add) summed over `threads`, each thread's
// rate taken on its own CPU time (the machines are shared: wall time would
// measure the neighbours); 0 when not built or the CPU lacks AVX-512 VNNI.
double vnni_peak_ops(int threads) {
#if defined(ECG_BENCH_AVX512VNNI)
  if (!__builtin_cpu_supports("avx512vnni")) return 0.0;
  const int64_t iters = 20000000;
  int64_t sink = 0;
  double rate = 0.0;
#pragma omp parallel num_threads(threads) reduction(+ : sink, rate)
  {
    timespec t0{}, t1{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
    __m512i acc[12];
    for (auto& a : acc) a = _mm512_setzero_si512();
    const __m512i x = _mm512_set1_epi8(3), w = _mm512_set1_epi8(-2);
    for (int64_t i = 0; i < iters; ++i)
      for (auto& a : acc) a = _mm512_dpbusd_epi32(a, x, w);
    __m512i s = acc[0];
    for (int j = 1; j < 12; ++j) s = _mm512_add_epi32(s, acc[j]);
    sink += _mm512_reduce_add_epi32(s);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
    const double sec = (t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec);
    rate += 12.0 * 64.0 * 2.0 * static_cast<double>(iters) / sec;
  }
  volatile int64_t keep = sink;
  (void)keep;
  return rate;
#else
  (void)threads;
  return 0.0;
#endif
}

}  // namespace bench_int8
