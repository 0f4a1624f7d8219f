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

#include "kernels/cpu/x86/fma_tile.h"

namespace ecg::cpu::ECG_CPU_NS {

struct Zmm {
  using V = __m512;
  static constexpr int kLanes = 16;
  static V zero() { return _mm512_setzero_ps(); }
  static V set1(float x) { return _mm512_set1_ps(x); }
  static V broadcast(const float* p) { return _mm512_set1_ps(*p); }
  static V load(const float* p) { return _mm512_load_ps(p); }
  static V loadu(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, V v) { _mm512_store_ps(p, v); }
  static void storeu(float* p, V v) { _mm512_storeu_ps(p, v); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  // Edge tile: masked loads/stores touch only the valid columns.
  template <int MR, int NV>
  static void store_edge(const V (&acc)[MR][NV], float* c, long ldc, bool accumulate, int m,
                         int n) {
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

struct MicroKernel : FmaMicroKernel<Zmm, 8, 2> {
  // B panel KC x NR = 32 KiB stays in L1 (48 KiB); A block MC x KC = 384 KiB and
  // B block KC x NC = 512 KiB share L2 (2 MiB): a B block that spills out of L2
  // between packing and use doubled the packing cost in the convolutions.
  static constexpr int KC = 256, MC = 384, NC = 512;
};

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
double fma_probe_avx512(long iters) {
  return ECG_CPU_NS::fma_probe<ECG_CPU_NS::Zmm>(iters);
}
}  // namespace cpu
}  // namespace ecg
