// Tiled implicit GEMM in float: C[M, Ncol] = sum over k < Kdim of A(m, k) * B(k, n),
// where a "problem" type maps (m, k) and (k, n) to reads of its tensors and
// (m, n) to a store. The convolution forward, backward-data and
// backward-weights passes (conv2d.cuh) are three such maps over one body, so
// no operand is ever unfolded into memory (no im2col buffer).
//
// Tiling (sm_53 first: one Maxwell SM, 64 K registers, 64 KiB shared memory):
//   block 256 threads, tile 64 x 64 of C (16 x 256 when M <= 16), K step 8;
//   thread (tx, ty) owns rows ty*4..ty*4+3 and columns tx*4..tx*4+3 of the tile,
//   so each step reads one float4 of A and one of B from shared memory per
//   16 FMAs (8 FMA per 128-bit shared load: the FMA pipe, not the LDS pipe,
//   is the limit);
//   the next K step is fetched from global memory into registers while the
//   current one is multiplied (one shared buffer, register prefetch).
//   A is stored transposed (k-major) with 4 floats of padding per row, which
//   keeps both the transposing stores and the float4 reads free of bank
//   conflicts; rows stay 16-byte aligned (68 floats = 272 bytes).
// Split-K: blockIdx.z selects the K range [z * k_chunk, (z + 1) * k_chunk); the
// problem's store receives z (backward-weights writes partial sums there).
//
// A problem type P walks its operands with iterators, so that a loader
// decodes its reduction index once and then only steps it by kIgemmTileK
// (a few adds and compares per element instead of divisions and 64-bit
// multiplies, which the sm_53 compile report showed dominating the loop):
//   typename P::AIt;  AIt a_begin(int m, int k);  float a_load(const AIt&);  void a_next(AIt&);
//   typename P::BIt;  BIt b_begin(int n, int k);  float b_load(const BIt&);  void b_next(BIt&);
//   typename P::OutCol;  OutCol out_column(int n);  void store(const OutCol&, int m, float v, int
//   z);
// (all __device__, const; a_next advances k by kIgemmTileK, b_next by
// igemm_b_substep of the tile: a thread's B elements of one step share one
// iterator). The kernel only
// loads with m < M, n < Ncol, k < Kdim, and begins iterators at valid
// coordinates (row or column 0 in place of one past the edge).
#pragma once

#include "kernels/cuda/emu/cuda_compat.h"

namespace ecg {
namespace cuda {  // nested form: the Nano's nvcc 10.2 is C++14

constexpr int kIgemmTile = 64;      // C tile edge of the square tile
constexpr int kIgemmTileK = 8;      // K step per shared tile
constexpr int kIgemmThreads = 256;  // 4 x 4 outputs each
constexpr int kIgemmPad = 4;        // floats of padding per shared row

// Rows of B one thread loads per K step are kIgemmBSubstep(kTileM) apart in k.
__host__ __device__ constexpr int igemm_tile_n(int tile_m) {
  return kIgemmThreads * 16 / tile_m;
}
__host__ __device__ constexpr int igemm_b_substep(int tile_m) {
  return kIgemmThreads / igemm_tile_n(tile_m);
}

// kTileM = 64: 64 x 64 tiles (16 x 16 threads). kTileM = 16: 16 x 256 tiles
// (64 x 4 threads) for M <= 16 (the 16-channel layers), which a 64-row tile
// would compute four times over.
template <class Prob, int kTileM>
__global__ void __launch_bounds__(kIgemmThreads)
    igemm_kernel(Prob prob, int M, int Ncol, int Kdim, int k_chunk) {
  constexpr int kTileN = igemm_tile_n(kTileM);
  constexpr int kThreadsN = kTileN / 4;                        // threads along a tile row
  constexpr int kBPer = kTileN * kIgemmTileK / kIgemmThreads;  // B elements per thread
  constexpr int kBSub = igemm_b_substep(kTileM);               // their k spacing
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
  typename Prob::BIt bit = prob.b_begin(b_ok ? n0 + b_n : 0, kbeg + b_k);

  float ra[kAPer], rb[kBPer];
  auto fetch = [&](int k0) {  // loads step k0 and advances the iterators past it
#pragma unroll
    for (int i = 0; i < kAPer; ++i) {
      ra[i] = (a_ok[i] && k0 + a_k < kend) ? prob.a_load(ait[i]) : 0.f;
      prob.a_next(ait[i]);
    }
#pragma unroll
    for (int i = 0; i < kBPer; ++i) {
      rb[i] = (b_ok && k0 + b_k + kBSub * i < kend) ? prob.b_load(bit) : 0.f;
      prob.b_next(bit);
    }
  };

  float acc[4][4];
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) acc[i][j] = 0.f;

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
      const float4 a4 = *reinterpret_cast<const float4*>(&a_s[kk][ty * 4]);
      const float4 b4 = *reinterpret_cast<const float4*>(&b_s[kk][tx * 4]);
      const float av[4] = {a4.x, a4.y, a4.z, a4.w};
      const float bv[4] = {b4.x, b4.y, b4.z, b4.w};
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] += av[i] * bv[j];
    }
    __syncthreads();  // the next iteration overwrites the tiles
  }

  // Each output column is decoded once for its 4 rows.
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const int n = n0 + tx * 4 + j;
    if (n >= Ncol) continue;
    const typename Prob::OutCol oc = prob.out_column(n);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int m = m0 + ty * 4 + i;
      if (m < M) prob.store(oc, m, acc[i][j], z);
    }
  }
}

// Row tile the launch uses for M rows: 16 when M <= 16, else 64.
inline int igemm_tile_m(int M) {
  return M <= 16 ? 16 : kIgemmTile;
}

// Launches the implicit GEMM with `splits` K ranges (blockIdx.z). The
// problem's B iterator must step igemm_b_substep(igemm_tile_m(M)) taps per
// b_next (the conv2d launchers set it).
template <class Prob>
inline cudaError_t igemm_launch(const Prob& prob, int M, int Ncol, int Kdim, int splits,
                                cudaStream_t stream) {
  if (M <= 0 || Ncol <= 0) return cudaSuccess;
  if (splits < 1) splits = 1;
  // Each split's range is a whole number of K steps.
  int steps = (Kdim + kIgemmTileK - 1) / kIgemmTileK;
  const int k_chunk = ((steps + splits - 1) / splits) * kIgemmTileK;
  const int tile_m = igemm_tile_m(M), tile_n = igemm_tile_n(tile_m);
  dim3 grid((Ncol + tile_n - 1) / tile_n, (M + tile_m - 1) / tile_m, splits);
  if (tile_m == 16) {
    ECG_LAUNCH(grid, dim3(kIgemmThreads), 0, stream, igemm_kernel<Prob, 16>)
    (prob, M, Ncol, Kdim, k_chunk);
  } else {
    ECG_LAUNCH(grid, dim3(kIgemmThreads), 0, stream, igemm_kernel<Prob, kIgemmTile>)
    (prob, M, Ncol, Kdim, k_chunk);
  }
  return cudaGetLastError();
}

}  // namespace cuda
}  // namespace ecg
