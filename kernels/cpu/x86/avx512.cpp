// AVX-512 kernels (Isa::Avx512): the 8 x 32 zmm micro-kernel for the shared
// GEMM driver, and the shared convolution / memory-bound bodies compiled with
// AVX-512 flags. Also the FMA peak probe the benchmarks use.
//
// Micro-kernel: C tile 8 rows x 32 columns = 16 zmm accumulators; per k, two
// aligned loads of B and eight broadcasts of A feed 16 FMAs, i.e. 10 loads per
// 8 cycles at two FMAs per cycle, within the two 512-bit load ports.
#include <immintrin.h>

#include <algorithm>

#include "kernels/cpu/scratch.h"
#include "kernels/op_table.h"

#define ECG_CPU_NS avx512_isa

namespace ecg::cpu::ECG_CPU_NS {

template <int MR_, int NV>
struct Zmm {
  static constexpr int MR = MR_, NR = 16 * NV;
  // B panel KC x NR = 32 KiB stays in L1 (48 KiB); A block MC x KC = 384 KiB and
  // B block KC x NC = 512 KiB share L2 (2 MiB): a B block that spills out of L2
  // between packing and use doubled the packing cost in the convolutions.
  static constexpr int KC = 256, MC = 384, NC = 512;
  static void run(int kc, const float* a, const float* b, float* c, long ldc, bool accumulate,
                  int m, int n) {
    // C rows are ldc apart (often a power of two): their lines miss L1 and,
    // on later K blocks, come from L3. Prefetching the tile now overlaps those
    // misses with the k loop; without it the final loads stalled the kernel
    // (perf: the C load was the hottest instruction of SGEMM 1024).
    if (accumulate)
      for (int i = 0; i < m; ++i)
        for (int v = 0; v < NV; ++v)
          _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + 16 * v), _MM_HINT_T0);
    __m512 acc[MR][NV];
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_setzero_ps();
#pragma GCC unroll 2
    for (int k = 0; k < kc; ++k) {
      __m512 bv[NV];
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) bv[v] = _mm512_load_ps(b + k * NR + 16 * v);
#pragma GCC unroll 16
      for (int i = 0; i < MR; ++i) {
        const __m512 ai = _mm512_set1_ps(a[k * MR + i]);
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
      }
    }
    if (m == MR && n == NR) {
#pragma GCC unroll 16
      for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) {
          float* p = c + i * ldc + 16 * v;
          _mm512_storeu_ps(p,
                           accumulate ? _mm512_add_ps(_mm512_loadu_ps(p), acc[i][v]) : acc[i][v]);
        }
      return;
    }
    // Edge tile: masked loads/stores touch only the valid columns.
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      if (i >= m) break;
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        const int lanes = std::min(16, std::max(0, n - 16 * v));
        if (!lanes) break;
        const __mmask16 mask = static_cast<__mmask16>((1u << lanes) - 1u);
        float* p = c + i * ldc + 16 * v;
        __m512 r = acc[i][v];
        if (accumulate) r = _mm512_add_ps(_mm512_maskz_loadu_ps(mask, p), r);
        _mm512_mask_storeu_ps(p, mask, r);
      }
    }
  }
};

using MicroKernel = Zmm<8, 2>;

}  // namespace ecg::cpu::ECG_CPU_NS

#include "kernels/cpu/gemm_driver.h"
//
#include "kernels/cpu/conv_impl.h"
//
#include "kernels/cpu/memory_bound_impl.h"

namespace ecg {
void register_avx512_kernels(OpTable& t) {
  cpu::ECG_CPU_NS::register_into(t, Isa::Avx512);
}

namespace cpu {
// Ten independent FMA chains hide the 4-cycle latency on two FMA ports.
double fma_probe_avx512(long iters) {
  __m512 r0 = _mm512_set1_ps(0.f), r1 = r0, r2 = r0, r3 = r0, r4 = r0, r5 = r0, r6 = r0, r7 = r0,
         r8 = r0, r9 = r0;
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  for (long i = 0; i < iters; ++i) {
    r0 = _mm512_fmadd_ps(r0, a, b);
    r1 = _mm512_fmadd_ps(r1, a, b);
    r2 = _mm512_fmadd_ps(r2, a, b);
    r3 = _mm512_fmadd_ps(r3, a, b);
    r4 = _mm512_fmadd_ps(r4, a, b);
    r5 = _mm512_fmadd_ps(r5, a, b);
    r6 = _mm512_fmadd_ps(r6, a, b);
    r7 = _mm512_fmadd_ps(r7, a, b);
    r8 = _mm512_fmadd_ps(r8, a, b);
    r9 = _mm512_fmadd_ps(r9, a, b);
    __asm__ volatile("" : "+v"(r0), "+v"(r1), "+v"(r2), "+v"(r3), "+v"(r4));
  }
  __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(r0, r1), _mm512_add_ps(r2, r3)),
                           _mm512_add_ps(_mm512_add_ps(r4, r5), _mm512_add_ps(r6, r7)));
  s = _mm512_add_ps(s, _mm512_add_ps(r8, r9));
  alignas(64) float out[16];
  _mm512_store_ps(out, s);
  volatile float sink = out[0];  // keeps the chains alive
  (void)sink;
  return 10.0 * 32.0 * static_cast<double>(iters);
}
}  // namespace cpu
}  // namespace ecg
