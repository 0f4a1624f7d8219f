// AVX2 + FMA kernels (Isa::Avx2): a 4 x 24 ymm micro-kernel for the shared GEMM
// driver, and the shared convolution / memory-bound bodies compiled with AVX2.
//
// Micro-kernel: 4 rows x 3 ymm = 12 accumulators + 3 B vectors + 1 broadcast
// = all 16 ymm registers; per k, 7 loads feed 12 FMAs (6 cycles at 2/cycle).
// Four rows divide every channel count of the study's models.
#include <immintrin.h>

#include <algorithm>

#include "kernels/cpu/scratch.h"
#include "kernels/op_table.h"

#define ECG_CPU_NS avx2_isa

namespace ecg::cpu::ECG_CPU_NS {

template <int MR_, int NV>
struct Ymm {
  static constexpr int MR = MR_, NR = 8 * NV;
  // B panel KC x NR = 24 KiB in L1; A block MC x KC = 256 KiB in L2.
  static constexpr int KC = 256, MC = 256, NC = 504;
  static void run(int kc, const float* a, const float* b, float* c, long ldc, bool accumulate,
                  int m, int n) {
    // Prefetch the C tile so its cache misses overlap the k loop (see avx512.cpp).
    if (accumulate)
      for (int i = 0; i < m; ++i)
        for (int v = 0; v < NV; v += 2)
          _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + 8 * v), _MM_HINT_T0);
    __m256 acc[MR][NV];
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_setzero_ps();
#pragma GCC unroll 2
    for (int k = 0; k < kc; ++k) {
      __m256 bv[NV];
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) bv[v] = _mm256_load_ps(b + k * NR + 8 * v);
#pragma GCC unroll 8
      for (int i = 0; i < MR; ++i) {
        const __m256 ai = _mm256_broadcast_ss(a + k * MR + i);
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_fmadd_ps(ai, bv[v], acc[i][v]);
      }
    }
    if (m == MR && n == NR) {
#pragma GCC unroll 8
      for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) {
          float* p = c + i * ldc + 8 * v;
          _mm256_storeu_ps(p,
                           accumulate ? _mm256_add_ps(_mm256_loadu_ps(p), acc[i][v]) : acc[i][v]);
        }
      return;
    }
    // Edge tile: spill to a local tile and copy the valid part.
    alignas(32) float tmp[MR * NR];
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) _mm256_store_ps(tmp + i * NR + 8 * v, acc[i][v]);
    for (int i = 0; i < m; ++i) {
      float* ci = c + i * ldc;
      if (accumulate)
        for (int j = 0; j < n; ++j) ci[j] += tmp[i * NR + j];
      else
        for (int j = 0; j < n; ++j) ci[j] = tmp[i * NR + j];
    }
  }
};

using MicroKernel = Ymm<4, 3>;

}  // namespace ecg::cpu::ECG_CPU_NS

#include "kernels/cpu/gemm_driver.h"
//
#include "kernels/cpu/conv_impl.h"
//
#include "kernels/cpu/memory_bound_impl.h"

namespace ecg {
void register_avx2_kernels(OpTable& t) {
  cpu::ECG_CPU_NS::register_into(t, Isa::Avx2);
}

namespace cpu {
double fma_probe_avx2(long iters) {
  __m256 r0 = _mm256_set1_ps(0.f), r1 = r0, r2 = r0, r3 = r0, r4 = r0, r5 = r0, r6 = r0, r7 = r0,
         r8 = r0, r9 = r0;
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (long i = 0; i < iters; ++i) {
    r0 = _mm256_fmadd_ps(r0, a, b);
    r1 = _mm256_fmadd_ps(r1, a, b);
    r2 = _mm256_fmadd_ps(r2, a, b);
    r3 = _mm256_fmadd_ps(r3, a, b);
    r4 = _mm256_fmadd_ps(r4, a, b);
    r5 = _mm256_fmadd_ps(r5, a, b);
    r6 = _mm256_fmadd_ps(r6, a, b);
    r7 = _mm256_fmadd_ps(r7, a, b);
    r8 = _mm256_fmadd_ps(r8, a, b);
    r9 = _mm256_fmadd_ps(r9, a, b);
    __asm__ volatile("" : "+x"(r0), "+x"(r1), "+x"(r2), "+x"(r3), "+x"(r4));
  }
  __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(r0, r1), _mm256_add_ps(r2, r3)),
                           _mm256_add_ps(_mm256_add_ps(r4, r5), _mm256_add_ps(r6, r7)));
  s = _mm256_add_ps(s, _mm256_add_ps(r8, r9));
  alignas(32) float out[8];
  _mm256_store_ps(out, s);
  volatile float sink = out[0];
  (void)sink;
  return 10.0 * 16.0 * static_cast<double>(iters);
}
}  // namespace cpu
}  // namespace ecg
