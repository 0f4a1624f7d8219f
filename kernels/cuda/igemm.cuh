// Tiled implicit GEMM in float: C[M, Ncol] = sum over k < Kdim of A(m, k) * B(k, n),
// where a "problem" type maps (m, k) and (k, n) to reads of its tensors and
// (m, n) to a store. The convolution forward, backward-data and
// backward-weights passes (conv2d.cuh) are three such maps over one body, so
// no operand is ever unfolded into memory (no im2col buffer).
//
// Tiling (sm_53 first: one Maxwell SM, 64 K registers, 64 KiB shared memory):
//   block 256 threads, K step 8, one of three tiles chosen by M (igemm_config):
//     M <= 16   16 x 256, 4 x 4 outputs per thread (the 16-channel layers)
//     M <= 64   64 x 256, 8 x 8 outputs per thread
//     M  > 64  128 x 128, 8 x 8 outputs per thread
//   A thread's outputs are groups of 4 x 4: rows ty*4 + {0..3} (+ tile/2 for
//   the second group), columns likewise, so each k reads float4s of A and B
//   that are contiguous across the threads of a warp (no bank conflicts) and
//   an 8 x 8 thread does 64 FMAs per 4 shared loads: the FMA pipe, not the
//   load pipe, is the limit. The larger tiles also amortise the gathered
//   B loads (4 per 512 FMAs instead of 2 per 128 in a 64 x 64 tile), which
//   the sm_53 SASS showed to be most of the loop.
//   The next K step is fetched from global memory into registers while the
//   current one is multiplied (one shared buffer, register prefetch).
//   A is stored transposed (k-major) with 4 floats of padding per row, which
//   keeps the transposing stores free of bank conflicts; rows stay 16-byte
//   aligned.
// Split-K: blockIdx.z selects the K range [z * k_chunk, (z + 1) * k_chunk); the
// problem's store receives z (backward-weights writes partial sums there).
//
// A problem type P walks its operands with iterators, so that a loader
// decodes its reduction index once and then only steps it (a few adds and
// compares per element instead of divisions and 64-bit multiplies, which the
// sm_53 compile report showed dominating the loop):
//   typename P::AIt;  AIt a_begin(int m, int k);  float a_load(const AIt&);  void a_next(AIt&);
//   typename P::BIt;  BIt b_begin(int n, int k);  float b_load(const BIt&);  void b_next(BIt&);
//   typename P::OutCol;  OutCol out_column(int n);
//   void store(const OutCol&, int m, float v, int z);
// (all __device__, const; a_next advances k by kIgemmTileK, b_next by
// igemm_config(M).b_substep: a thread's B elements of one step share one
// iterator). The kernel only loads with m < M, n < Ncol, k < Kdim, and begins
// iterators at valid coordinates (row or column 0 in place of one past the
// edge).
//
// Two optional extensions (detected, so a problem without them, such as
// conv_int8.cuh's, keeps the protocol above):
//  - rows decoded once: typename P::OutRow; OutRow out_row(int m);
//    void store(const OutCol&, const OutRow&, float v, int z); and, when
//    bool vec4() says four consecutive columns n..n+3 (n % 4 == 0) lie
//    contiguous and 16-byte aligned in the output,
//    void store4(const OutCol&, const OutRow&, float4 v, int z). The sm_53
//    SASS showed the per-element epilogue (a 64-bit row multiply and the
//    per-channel loads for every output) costing as much as 9 K steps of the
//    loop, which is most of a 1x1 layer's time.
//  - a shared table (static constexpr int kTableEntries > 0): the kernel gives
//    the problem kTableEntries int2 of shared memory, filled once per block by
//    void fill_table(int2* t, int tid, int nthreads); B is then read per K
//    step: BIt b_begin(int n, int k, const int2* t) at the thread's first
//    element, float b_load(const BIt&, int d, bool in_range) for the element
//    d taps further (d < kIgemmTileK, a compile-time offset after unrolling;
//    0 when !in_range, one condition so that nvcc predicates the load
//    instead of branching around it), and
//    void b_step(BIt&) by kIgemmTileK taps.
#pragma once

#include <type_traits>

#include "kernels/cuda/emu/cuda_compat.h"

namespace ecg {
namespace cuda {  // nested form: the Nano's nvcc 10.2 is C++14

constexpr int kIgemmTileK = 8;      // K step per shared tile
constexpr int kIgemmThreads = 256;  // per block
constexpr int kIgemmPad = 4;        // floats of padding per shared row

// A 16-byte store. nvcc 11.8 split `*(float4*)p = v` into four 32-bit
// stores in the conv epilogues (the sm_53 SASS had no STG.E.128 there), so
// the device form is the PTX vector store itself.
__device__ __forceinline__ void store_float4(float* p, float4 v) {
#if defined(__CUDA_ARCH__)
  asm volatile("st.global.v4.f32 [%0], {%1, %2, %3, %4};" ::"l"(p), "f"(v.x), "f"(v.y), "f"(v.z),
               "f"(v.w)
               : "memory");
#else
  *reinterpret_cast<float4*>(p) = v;
#endif
}

namespace igemm_detail {
template <class...>
struct MakeVoid {
  using type = void;
};
template <class P, class = void>
struct HasRows : std::false_type {};
template <class P>
struct HasRows<P, typename MakeVoid<typename P::OutRow>::type> : std::true_type {};
template <class P, class = void>
struct TableEntries : std::integral_constant<int, 0> {};
template <class P>
struct TableEntries<P, typename MakeVoid<decltype(P::kTableEntries)>::type>
    : std::integral_constant<int, P::kTableEntries> {};

// B operand: per-element iterators (no table) or per-step table reads.
template <bool kTable>
struct BReader {
  template <class P>
  static __device__ __forceinline__ void fill(const P&, int2*, int) {}
  template <class P>
  static __device__ __forceinline__ typename P::BIt begin(const P& p, int n, int k, const int2*) {
    return p.b_begin(n, k);
  }
  // rb[i] = B(k + kBSub i, n) for kBSub i < lim, else 0; then the iterator moves one K step.
  template <int kBSub, int kBPer, class P>
  static __device__ __forceinline__ void fetch(const P& p, typename P::BIt& it, float (&rb)[kBPer],
                                               bool ok, int lim) {
#pragma unroll
    for (int i = 0; i < kBPer; ++i) {
      rb[i] = (ok && kBSub * i < lim) ? p.b_load(it) : 0.f;
      p.b_next(it);
    }
  }
};
template <>
struct BReader<true> {
  template <class P>
  static __device__ __forceinline__ void fill(const P& p, int2* t, int tid) {
    p.fill_table(t, tid, kIgemmThreads);
    __syncthreads();
  }
  template <class P>
  static __device__ __forceinline__ typename P::BIt begin(const P& p, int n, int k, const int2* t) {
    return p.b_begin(n, k, t);
  }
  template <int kBSub, int kBPer, class P>
  static __device__ __forceinline__ void fetch(const P& p, typename P::BIt& it, float (&rb)[kBPer],
                                               bool ok, int lim) {
#pragma unroll
    for (int i = 0; i < kBPer; ++i) rb[i] = p.b_load(it, kBSub * i, ok && kBSub * i < lim);
    p.b_step(it);
  }
};

// Epilogue. Row and column parts decoded once (HasRows), or per element.
template <bool kRows>
struct Epilogue {
  template <int kTM, int kTN, int kGroupStrideM, int kGroupStrideN, class P>
  static __device__ __forceinline__ void run(const P& prob, const float (&acc)[kTM][kTN], int mt,
                                             int nt, int M, int Ncol, int z) {
#pragma unroll
    for (int j = 0; j < kTN; ++j) {
      const int n = nt + (j / 4) * kGroupStrideN + j % 4;
      if (n >= Ncol) continue;
      const typename P::OutCol oc = prob.out_column(n);
#pragma unroll
      for (int i = 0; i < kTM; ++i) {
        const int m = mt + (i / 4) * kGroupStrideM + i % 4;
        if (m < M) prob.store(oc, m, acc[i][j], z);
      }
    }
  }
};
template <>
struct Epilogue<true> {
  template <int kTM, int kTN, int kGroupStrideM, int kGroupStrideN, class P>
  static __device__ __forceinline__ void run(const P& prob, const float (&acc)[kTM][kTN], int mt,
                                             int nt, int M, int Ncol, int z) {
    typename P::OutRow orow[kTM];
#pragma unroll
    for (int i = 0; i < kTM; ++i) {
      const int m = mt + (i / 4) * kGroupStrideM + i % 4;
      orow[i] = prob.out_row(m < M ? m : M - 1);
    }
    const bool vec = prob.vec4();
#pragma unroll
    for (int g = 0; g < kTN / 4; ++g) {
      const int nb = nt + g * kGroupStrideN;  // a multiple of 4
      if (vec && nb + 3 < Ncol) {
        const typename P::OutCol oc = prob.out_column(nb);
#pragma unroll
        for (int i = 0; i < kTM; ++i) {
          const int m = mt + (i / 4) * kGroupStrideM + i % 4;
          if (m < M)
            prob.store4(
                oc, orow[i],
                make_float4(acc[i][4 * g], acc[i][4 * g + 1], acc[i][4 * g + 2], acc[i][4 * g + 3]),
                z);
        }
        continue;
      }
#pragma unroll
      for (int jj = 0; jj < 4; ++jj) {
        const int n = nb + jj;
        if (n >= Ncol) continue;
        const typename P::OutCol oc = prob.out_column(n);
#pragma unroll
        for (int i = 0; i < kTM; ++i) {
          const int m = mt + (i / 4) * kGroupStrideM + i % 4;
          if (m < M) prob.store(oc, orow[i], acc[i][4 * g + jj], z);
        }
      }
    }
  }
};
}  // namespace igemm_detail

// kThreadsM x (256 / kThreadsM) threads, kTM x kTN outputs each (4 or 8).
template <class Prob, int kThreadsM, int kTM, int kTN>
__global__ void __launch_bounds__(kIgemmThreads)
    igemm_kernel(Prob prob, int M, int Ncol, int Kdim, int k_chunk) {
  constexpr int kThreadsN = kIgemmThreads / kThreadsM;
  constexpr int kTileM = kThreadsM * kTM, kTileN = kThreadsN * kTN;
  constexpr int kGroupStrideM = kThreadsM * 4, kGroupStrideN = kThreadsN * 4;
  constexpr int kBPer = kTileN * kIgemmTileK / kIgemmThreads;  // B elements per thread
  constexpr int kBSub = kIgemmThreads / kTileN;                // their k spacing
  constexpr int kAPer = (kTileM * kIgemmTileK + kIgemmThreads - 1) / kIgemmThreads;
  ECG_SHARED(float[kIgemmTileK][kTileM + kIgemmPad], a_s);
  ECG_SHARED(float[kIgemmTileK][kTileN + kIgemmPad], b_s);

  const int tid = static_cast<int>(threadIdx.x);
  const int tx = tid % kThreadsN, ty = tid / kThreadsN;
  const int m0 = static_cast<int>(blockIdx.y) * kTileM;
  const int n0 = static_cast<int>(blockIdx.x) * kTileN;
  const int z = static_cast<int>(blockIdx.z);
  const int kbeg = z * k_chunk;
  const int kend = min(Kdim, kbeg + k_chunk);

  // Loader coordinates. A: elements (a_m + 32 i, a_k); consecutive threads
  // walk k (contiguous in the weights); with 16-row tiles only the first 128
  // threads load A. B: elements (b_k + kBSub i, b_n), one column per thread,
  // consecutive threads on consecutive columns (contiguous output pixels), all
  // through one iterator that steps kBSub taps per element.
  const int a_k = tid % kIgemmTileK, a_m = tid / kIgemmTileK;
  const int b_n = tid % kTileN, b_k = tid / kTileN;
  const bool b_ok = n0 + b_n < Ncol;
  bool a_ok[kAPer];
  typename Prob::AIt ait[kAPer];
#pragma unroll
  for (int i = 0; i < kAPer; ++i) {
    a_ok[i] = a_m + 32 * i < kTileM && m0 + a_m + 32 * i < M;
    ait[i] = prob.a_begin(a_ok[i] ? m0 + a_m + 32 * i : 0, kbeg + a_k);
  }
  constexpr int kTableEntries = igemm_detail::TableEntries<Prob>::value;
  using BRead = igemm_detail::BReader<(kTableEntries > 0)>;
  constexpr int kTableSize = kTableEntries > 0 ? kTableEntries : 1;
  ECG_SHARED(int2[kTableSize], table_s);
  BRead::fill(prob, table_s, tid);
  typename Prob::BIt bit = BRead::begin(prob, b_ok ? n0 + b_n : 0, kbeg + b_k, table_s);

  float ra[kAPer], rb[kBPer];
  auto fetch = [&](int k0) {  // loads step k0 and advances the iterators past it
#pragma unroll
    for (int i = 0; i < kAPer; ++i) {
      ra[i] = (a_ok[i] && k0 + a_k < kend) ? prob.a_load(ait[i]) : 0.f;
      prob.a_next(ait[i]);
    }
    BRead::template fetch<kBSub>(prob, bit, rb, b_ok, kend - k0 - b_k);
  };

  float acc[kTM][kTN];
#pragma unroll
  for (int i = 0; i < kTM; ++i)
#pragma unroll
    for (int j = 0; j < kTN; ++j) acc[i][j] = 0.f;

  if (kbeg < kend) fetch(kbeg);
  for (int k0 = kbeg; k0 < kend; k0 += kIgemmTileK) {
#pragma unroll
    for (int i = 0; i < kAPer; ++i)
      if (a_m + 32 * i < kTileM) a_s[a_k][a_m + 32 * i] = ra[i];
#pragma unroll
    for (int i = 0; i < kBPer; ++i) b_s[b_k + kBSub * i][b_n] = rb[i];
    __syncthreads();
    if (k0 + kIgemmTileK < kend) fetch(k0 + kIgemmTileK);  // in flight during the FMAs
#pragma unroll
    for (int kk = 0; kk < kIgemmTileK; ++kk) {
      float av[kTM], bv[kTN];
#pragma unroll
      for (int g = 0; g < kTM / 4; ++g) {
        const float4 a4 = *reinterpret_cast<const float4*>(&a_s[kk][ty * 4 + g * kGroupStrideM]);
        av[4 * g] = a4.x, av[4 * g + 1] = a4.y, av[4 * g + 2] = a4.z, av[4 * g + 3] = a4.w;
      }
#pragma unroll
      for (int g = 0; g < kTN / 4; ++g) {
        const float4 b4 = *reinterpret_cast<const float4*>(&b_s[kk][tx * 4 + g * kGroupStrideN]);
        bv[4 * g] = b4.x, bv[4 * g + 1] = b4.y, bv[4 * g + 2] = b4.z, bv[4 * g + 3] = b4.w;
      }
#pragma unroll
      for (int i = 0; i < kTM; ++i)
#pragma unroll
        for (int j = 0; j < kTN; ++j) acc[i][j] += av[i] * bv[j];
    }
    __syncthreads();  // the next iteration overwrites the tiles
  }

  igemm_detail::Epilogue<igemm_detail::HasRows<Prob>::value>::template run<kTM, kTN, kGroupStrideM,
                                                                           kGroupStrideN>(
      prob, acc, m0 + ty * 4, n0 + tx * 4, M, Ncol, z);
}

// The tile a launch with M rows uses, and the k spacing of a thread's B
// elements (what the problem's b_next must step).
struct IgemmConfig {
  int tile_m, tile_n, b_substep;
};
inline IgemmConfig igemm_config(int M) {
  if (M <= 16) return IgemmConfig{16, 256, 1};
  if (M <= 64) return IgemmConfig{64, 256, 1};
  return IgemmConfig{128, 128, 2};
}

// Launches the implicit GEMM with `splits` K ranges (blockIdx.z).
template <class Prob>
inline cudaError_t igemm_launch(const Prob& prob, int M, int Ncol, int Kdim, int splits,
                                cudaStream_t stream) {
  if (M <= 0 || Ncol <= 0) return cudaSuccess;
  if (splits < 1) splits = 1;
  // Each split's range is a whole number of K steps.
  int steps = (Kdim + kIgemmTileK - 1) / kIgemmTileK;
  const int k_chunk = ((steps + splits - 1) / splits) * kIgemmTileK;
  const IgemmConfig c = igemm_config(M);
  dim3 grid((Ncol + c.tile_n - 1) / c.tile_n, (M + c.tile_m - 1) / c.tile_m, splits);
  if (c.tile_m == 16) {
    ECG_LAUNCH(grid, dim3(kIgemmThreads), 0, stream, igemm_kernel<Prob, 4, 4, 4>)
    (prob, M, Ncol, Kdim, k_chunk);
  } else if (c.tile_m == 64) {
    ECG_LAUNCH(grid, dim3(kIgemmThreads), 0, stream, igemm_kernel<Prob, 8, 8, 8>)
    (prob, M, Ncol, Kdim, k_chunk);
  } else {
    ECG_LAUNCH(grid, dim3(kIgemmThreads), 0, stream, igemm_kernel<Prob, 16, 8, 8>)
    (prob, M, Ncol, Kdim, k_chunk);
  }
  return cudaGetLastError();
}

}  // namespace cuda
}  // namespace ecg
