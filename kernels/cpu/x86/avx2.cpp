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

#include "kernels/cpu/micro_tile.h"
#include "kernels/cpu/x86/fma_tile.h"

namespace ecg::cpu::ECG_CPU_NS {

struct Ymm {
  using V = __m256;
  static constexpr int kLanes = 8;
  static V zero() { return _mm256_setzero_ps(); }
  static V set1(float x) { return _mm256_set1_ps(x); }
  static V broadcast(const float* p) { return _mm256_broadcast_ss(p); }
  static V load(const float* p) { return _mm256_load_ps(p); }
  static V loadu(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, V v) { _mm256_store_ps(p, v); }
  static void storeu(float* p, V v) { _mm256_storeu_ps(p, v); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  // Edge tile: spill to a local tile and copy the valid part.
  template <int MR, int NV>
  static void store_edge(const V (&acc)[MR][NV], float* c, long ldc, bool accumulate, int m,
                         int n) {
    constexpr int NR = kLanes * NV;
    alignas(32) float tmp[MR * NR];
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) _mm256_store_ps(tmp + i * NR + 8 * v, acc[i][v]);
    store_tile_part<NR>(tmp, c, ldc, accumulate, m, n);
  }
};

struct MicroKernel : FmaMicroKernel<Ymm, 4, 3> {
  // B panel KC x NR = 24 KiB in L1; A block MC x KC = 256 KiB in L2.
  static constexpr int KC = 256, MC = 256, NC = 504;
};

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
  return ECG_CPU_NS::fma_probe<ECG_CPU_NS::Ymm>(iters);
}
}  // namespace cpu
}  // namespace ecg
