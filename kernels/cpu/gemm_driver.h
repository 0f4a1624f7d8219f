// Blocked single-precision GEMM driver (BLIS-style loop nest), included by each
// ISA unit (generic.cpp, x86/avx2.cpp, x86/avx512.cpp) after it defines its
// register-tiled micro-kernel `MicroKernel` and the namespace macro ECG_CPU_NS.
// Each inclusion lands in its own namespace so code compiled with different
// -m flags is never merged by the linker.
//
// Layouts: C is row-major with leading dimension ldc. Packed A holds MR-row
// panels, k-major (a[k * MR + i]); packed B holds NR-column panels, k-major
// (b[k * NR + j]); both are zero-padded to whole panels so the micro-kernel
// never branches on edges inside its k loop. Accumulation is in float.
//
// The operand packers are templates so convolutions reuse this driver with an
// implicit im2col (the B packer reads the image directly): no full im2col
// buffer ever exists, only one KC x NC block per thread.
//
// Micro-kernel contract:
//   MicroKernel::MR, NR                 register tile
//   MicroKernel::KC, MC, NC             cache blocks (KC x NR panel of B in L1,
//                                       MC x KC block of A in L2, KC x NC of B in L2/L3)
//   MicroKernel::run(kc, a, b, c, ldc, accumulate, m, n)
//        c[0:m, 0:n] (+)= a_panel * b_panel, m <= MR, n <= NR.
#pragma once
#include <algorithm>
#include <cstring>

#include "kernels/cpu/scratch.h"
#include "kernels/runtime.h"

namespace ecg::cpu::ECG_CPU_NS {

constexpr int kMR = MicroKernel::MR;
constexpr int kNR = MicroKernel::NR;

inline int round_up(int v, int m) {
  return (v + m - 1) / m * m;
}

// Dense A operand, optionally transposed (A stored K x M), scaled by alpha while packing.
struct DenseA {
  const float* a;
  long lda;
  bool trans;
  float alpha;
  void pack(int i0, int k0, int mc, int kc, float* dst) const {
    for (int ip = 0; ip < mc; ip += kMR) {
      const int rows = std::min(kMR, mc - ip);
      float* d = dst + static_cast<long>(ip) * kc;
      if (!trans && rows == kMR) {
        // k outer over MR row streams: contiguous stores. (Row by row, GCC
        // vectorised over k into scattered single-lane stores and packing
        // took a fifth of SGEMM 1024.)
        const float* src[kMR];
        for (int i = 0; i < kMR; ++i) src[i] = a + (i0 + ip + i) * lda + k0;
        for (int k = 0; k < kc; ++k)
#pragma GCC unroll 16
          for (int i = 0; i < kMR; ++i) d[k * kMR + i] = alpha * src[i][k];
      } else if (!trans) {
        for (int i = 0; i < rows; ++i) {
          const float* src = a + (i0 + ip + i) * lda + k0;
          for (int k = 0; k < kc; ++k) d[k * kMR + i] = alpha * src[k];
        }
      } else {
        for (int k = 0; k < kc; ++k) {
          const float* src = a + (k0 + k) * lda + i0 + ip;
          for (int i = 0; i < rows; ++i) d[k * kMR + i] = alpha * src[i];
        }
      }
      if (rows < kMR)
        for (int k = 0; k < kc; ++k)
          for (int i = rows; i < kMR; ++i) d[k * kMR + i] = 0.f;
    }
  }
};

// Dense B operand, optionally transposed (B stored N x K).
struct DenseB {
  const float* b;
  long ldb;
  bool trans;
  void pack(int k0, int j0, int kc, int nc, float* dst) const {
    for (int jp = 0; jp < nc; jp += kNR) {
      const int cols = std::min(kNR, nc - jp);
      float* d = dst + static_cast<long>(jp) * kc;
      if (!trans) {
        for (int k = 0; k < kc; ++k) {
          const float* src = b + (k0 + k) * ldb + j0 + jp;
          float* dk = d + k * kNR;
          for (int j = 0; j < cols; ++j) dk[j] = src[j];
          for (int j = cols; j < kNR; ++j) dk[j] = 0.f;
        }
      } else {
        for (int j = 0; j < cols; ++j) {
          const float* src = b + (j0 + jp + j) * ldb + k0;
          for (int k = 0; k < kc; ++k) d[k * kNR + j] = src[k];
        }
        for (int k = 0; k < kc; ++k)
          for (int j = cols; j < kNR; ++j) d[k * kNR + j] = 0.f;
      }
    }
  }
};

// C[0:M, 0:N] = (accumulate ? C : row_bias ? bias : 0) + A * B on the calling
// thread. The bias is written into each C tile just before its first
// micro-kernel call, while the tile is in L1 (a separate pass over C would
// stream the whole output through memory once more). K == 0 gives the start value.
template <class PackA, class PackB>
void gemm_serial(int M, int N, int K, const PackA& pa, const PackB& pb, float* C, long ldc,
                 bool accumulate, const float* row_bias = nullptr) {
  if (accumulate) row_bias = nullptr;
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    if (!accumulate)
      for (int i = 0; i < M; ++i)
        for (int j = 0; j < N; ++j) C[i * ldc + j] = row_bias ? row_bias[i] : 0.f;
    return;
  }
  const int KC = MicroKernel::KC, MC = MicroKernel::MC, NC = MicroKernel::NC;
  float* abuf = thread_scratch(
      kScratchPackA, static_cast<size_t>(round_up(std::min(M, MC), kMR)) * std::min(K, KC));
  float* bbuf = thread_scratch(
      kScratchPackB, static_cast<size_t>(round_up(std::min(N, NC), kNR)) * std::min(K, KC));
  for (int jc = 0; jc < N; jc += NC) {
    const int nc = std::min(NC, N - jc);
    for (int pc = 0; pc < K; pc += KC) {
      const int kc = std::min(KC, K - pc);
      pb.pack(pc, jc, kc, nc, bbuf);
      const bool acc = accumulate || pc > 0;
      for (int ic = 0; ic < M; ic += MC) {
        const int mc = std::min(MC, M - ic);
        pa.pack(ic, pc, mc, kc, abuf);
        // jr outer, ir inner: one KC x NR panel of B stays in L1 while the
        // MC x KC block of A streams from L2.
        for (int jr = 0; jr < nc; jr += kNR) {
          const int n = std::min(kNR, nc - jr);
          const float* bp = bbuf + static_cast<long>(jr) * kc;
          for (int ir = 0; ir < mc; ir += kMR) {
            const int m = std::min(kMR, mc - ir);
            float* ct = C + (ic + ir) * ldc + jc + jr;
            if (row_bias && pc == 0)
              for (int i = 0; i < m; ++i)
                for (int j = 0; j < n; ++j) ct[i * ldc + j] = row_bias[ic + ir + i];
            MicroKernel::run(kc, abuf + static_cast<long>(ir) * kc, bp, ct, ldc,
                             acc || (row_bias != nullptr), m, n);
          }
        }
      }
    }
  }
}

// Splits [0, total) into `parts` nearly equal ranges aligned to `align`.
inline void split_range(int total, int parts, int part, int align, int& lo, int& hi) {
  const int units = (total + align - 1) / align;
  const int base = units / parts, extra = units % parts;
  const int u0 = part * base + std::min(part, extra);
  const int u1 = u0 + base + (part < extra ? 1 : 0);
  lo = std::min(total, u0 * align);
  hi = std::min(total, u1 * align);
}

// The op-table SGEMM: C = alpha op(A) op(B) + beta C. One parallel region;
// each thread owns a block of C (split along the longer of M and N) and packs
// its own panels, so threads never synchronise inside.
inline void sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A,
                  int lda, const float* B, int ldb, float beta, float* C, int ldc) {
  if (M <= 0 || N <= 0) return;
  const double work = 2.0 * M * N * K;
  const int threads = work < 2e5 ? 1 : std::max(1, ecg::num_threads());
  const bool split_n = N >= M;
  const int tasks = std::min(threads, split_n ? (N + kNR - 1) / kNR : (M + kMR - 1) / kMR);
  DenseA pa{A, lda, trans_a, alpha};
  DenseB pb{B, ldb, trans_b};
#pragma omp parallel for num_threads(tasks) schedule(static, 1)
  for (int t = 0; t < tasks; ++t) {
    int lo, hi;
    split_range(split_n ? N : M, tasks, t, split_n ? kNR : kMR, lo, hi);
    const int i0 = split_n ? 0 : lo, i1 = split_n ? M : hi;
    const int j0 = split_n ? lo : 0, j1 = split_n ? hi : N;
    if (i1 <= i0 || j1 <= j0) continue;
    // beta: 0 ignores C (it may hold NaN), 1 accumulates, else scale first.
    if (beta != 0.f && beta != 1.f)
      for (int i = i0; i < i1; ++i)
        for (int j = j0; j < j1; ++j) C[static_cast<long>(i) * ldc + j] *= beta;
    DenseA a_sub = pa;
    a_sub.a = trans_a ? A + i0 : A + static_cast<long>(i0) * lda;
    DenseB b_sub = pb;
    b_sub.b = trans_b ? B + static_cast<long>(j0) * ldb : B + j0;
    gemm_serial(i1 - i0, j1 - j0, alpha == 0.f ? 0 : K, a_sub, b_sub,
                C + static_cast<long>(i0) * ldc + j0, ldc, beta != 0.f);
  }
}

}  // namespace ecg::cpu::ECG_CPU_NS
