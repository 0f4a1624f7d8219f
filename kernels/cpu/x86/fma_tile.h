// The x86 single-precision micro-kernel and FMA peak probe, written once over
// a vector type: x86/avx2.cpp includes it with ymm traits (8 floats), and
// x86/avx512.cpp with zmm traits (16 floats), each after defining ECG_CPU_NS,
// so every unit compiles its own copy with its own -m flags.
//
// Vec contract (static members, all inlined):
//   V, kLanes                     the register type and its float lanes
//   zero(), set1(x), broadcast(p), load(p) (aligned), loadu(p), storeu(p, v),
//   store(p, v) (aligned), add(a, b), fmadd(a, b, c) = a * b + c
//   store_edge<MR, NV>(acc, c, ldc, accumulate, m, n)
//                                 writes the valid m x n part of a C tile
#pragma once
#include <immintrin.h>

namespace ecg::cpu::ECG_CPU_NS {

// C[0:m, 0:n] (+)= A panel (MR rows) * B panel (NV vectors of columns), the
// whole tile in MR x NV accumulators (the register budget sets MR and NV).
template <class Vec, int MR_, int NV>
struct FmaMicroKernel {
  using V = typename Vec::V;
  static constexpr int MR = MR_, NR = Vec::kLanes * NV;
  static void run(int kc, const float* a, const float* b, float* c, long ldc, bool accumulate,
                  int m, int n) {
    // C rows are ldc apart (often a power of two): their lines miss L1 and,
    // on later K blocks, come from L3. Prefetching the tile (one 64-byte line
    // at a time) now overlaps those misses with the k loop; without it the
    // final loads stalled the kernel (perf: the C load was the hottest
    // instruction of SGEMM 1024).
    if (accumulate)
      for (int i = 0; i < m; ++i)
        for (int j = 0; j < NR; j += 16)
          _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + j), _MM_HINT_T0);
    V acc[MR][NV];
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = Vec::zero();
#pragma GCC unroll 2
    for (int k = 0; k < kc; ++k) {
      V bv[NV];
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) bv[v] = Vec::load(b + k * NR + Vec::kLanes * v);
#pragma GCC unroll 16
      for (int i = 0; i < MR; ++i) {
        const V ai = Vec::broadcast(a + k * MR + i);
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[i][v] = Vec::fmadd(ai, bv[v], acc[i][v]);
      }
    }
    if (m == MR && n == NR) {
#pragma GCC unroll 16
      for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) {
          float* p = c + i * ldc + Vec::kLanes * v;
          Vec::storeu(p, accumulate ? Vec::add(Vec::loadu(p), acc[i][v]) : acc[i][v]);
        }
      return;
    }
    Vec::template store_edge<MR, NV>(acc, c, ldc, accumulate, m, n);
  }
};

// Ten independent FMA chains hide the 4-cycle latency on two FMA ports.
// Returns the FLOP count of the loop.
template <class Vec>
double fma_probe(long iters) {
  using V = typename Vec::V;
  V r0 = Vec::set1(0.f), r1 = r0, r2 = r0, r3 = r0, r4 = r0, r5 = r0, r6 = r0, r7 = r0, r8 = r0,
    r9 = r0;
  const V a = Vec::set1(0.999999f), b = Vec::set1(1e-7f);
  for (long i = 0; i < iters; ++i) {
    r0 = Vec::fmadd(r0, a, b);
    r1 = Vec::fmadd(r1, a, b);
    r2 = Vec::fmadd(r2, a, b);
    r3 = Vec::fmadd(r3, a, b);
    r4 = Vec::fmadd(r4, a, b);
    r5 = Vec::fmadd(r5, a, b);
    r6 = Vec::fmadd(r6, a, b);
    r7 = Vec::fmadd(r7, a, b);
    r8 = Vec::fmadd(r8, a, b);
    r9 = Vec::fmadd(r9, a, b);
    // "v": any vector register the unit's flags allow (xmm/ymm 0-15 under
    // AVX2, all 32 under AVX-512).
    __asm__ volatile("" : "+v"(r0), "+v"(r1), "+v"(r2), "+v"(r3), "+v"(r4));
  }
  V s = Vec::add(Vec::add(Vec::add(r0, r1), Vec::add(r2, r3)),
                 Vec::add(Vec::add(r4, r5), Vec::add(r6, r7)));
  s = Vec::add(s, Vec::add(r8, r9));
  alignas(64) float out[Vec::kLanes];
  Vec::store(out, s);
  volatile float sink = out[0];  // keeps the chains alive
  (void)sink;
  return 10.0 * 2.0 * Vec::kLanes * static_cast<double>(iters);
}

}  // namespace ecg::cpu::ECG_CPU_NS
