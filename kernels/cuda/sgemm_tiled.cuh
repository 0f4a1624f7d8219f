// Tiled SGEMM with shared memory: C[M,N] = A[M,K] * B[K,N] (+ beta * C).
//
// Layouts: A, B, C row-major and contiguous; accumulate in float.
// Tiling: a 16x16 thread block computes a 32x32 tile of C, 2x2 outputs per
// thread, walking K in steps of 8 through two shared tiles (A 32x8, B 8x32).
// Edges of any size are handled by zero-filling the tiles, so M, N and K need
// not be multiples of anything.
//
// This is the example of the "one header, two compilers" rule of
// kernels/cuda/emu/cuda_compat.h: nvcc builds it through sgemm_tiled.cu,
// and tests/cuda_emu/test_sgemm_tiled.cpp runs the same text on the CPU
// emulator under three thread schedules. Both __syncthreads are load-bearing:
// the first keeps threads from reading a tile before it is filled, the second
// from overwriting it while others still read.
#pragma once

#include "kernels/cuda/emu/cuda_compat.h"

namespace ecg {
namespace cuda {  // nested form: the Nano's nvcc 10.2 is C++14

constexpr int kSgemmTile = 32;     // C tile edge per block
constexpr int kSgemmTileK = 8;     // K step per shared tile
constexpr int kSgemmThreads = 16;  // block is kSgemmThreads x kSgemmThreads

__global__ void __launch_bounds__(256)
    sgemm_tiled_kernel(int M, int N, int K, const float* __restrict__ A,
                       const float* __restrict__ B, float beta, float* __restrict__ C) {
  // +1 column on A's tile staggers the banks of the column-wise reads.
  ECG_SHARED(float[kSgemmTile][kSgemmTileK + 1], a_tile);
  ECG_SHARED(float[kSgemmTileK][kSgemmTile], b_tile);

  const int tx = static_cast<int>(threadIdx.x), ty = static_cast<int>(threadIdx.y);
  const int tid = ty * kSgemmThreads + tx;  // 0..255
  const int row0 = static_cast<int>(blockIdx.y) * kSgemmTile;
  const int col0 = static_cast<int>(blockIdx.x) * kSgemmTile;

  float acc[2][2] = {{0.f, 0.f}, {0.f, 0.f}};
  for (int k0 = 0; k0 < K; k0 += kSgemmTileK) {
    // 256 threads load 32x8 floats of A and 8x32 of B: one of each per thread.
    {
      const int r = tid / kSgemmTileK, c = tid % kSgemmTileK;
      const int gr = row0 + r, gc = k0 + c;
      a_tile[r][c] = (gr < M && gc < K) ? A[static_cast<long long>(gr) * K + gc] : 0.f;
    }
    {
      const int r = tid / kSgemmTile, c = tid % kSgemmTile;
      const int gr = k0 + r, gc = col0 + c;
      b_tile[r][c] = (gr < K && gc < N) ? B[static_cast<long long>(gr) * N + gc] : 0.f;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kSgemmTileK; ++kk) {
      const float a0 = a_tile[ty][kk], a1 = a_tile[ty + kSgemmThreads][kk];
      const float b0 = b_tile[kk][tx], b1 = b_tile[kk][tx + kSgemmThreads];
      acc[0][0] += a0 * b0;
      acc[0][1] += a0 * b1;
      acc[1][0] += a1 * b0;
      acc[1][1] += a1 * b1;
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 2; ++i) {
#pragma unroll
    for (int j = 0; j < 2; ++j) {
      const int r = row0 + ty + i * kSgemmThreads, c = col0 + tx + j * kSgemmThreads;
      if (r < M && c < N) {
        float* out = &C[static_cast<long long>(r) * N + c];
        *out = beta == 0.f ? acc[i][j] : acc[i][j] + beta * *out;  // beta 0 ignores NaN in C
      }
    }
  }
}

// Host entry point: one launch, asynchronous on `stream` on a GPU.
inline cudaError_t sgemm_tiled(int M, int N, int K, const float* A, const float* B, float beta,
                               float* C, cudaStream_t stream) {
  if (M <= 0 || N <= 0) return cudaSuccess;
  dim3 grid((N + kSgemmTile - 1) / kSgemmTile, (M + kSgemmTile - 1) / kSgemmTile);
  dim3 block(kSgemmThreads, kSgemmThreads);
  ECG_LAUNCH(grid, block, 0, stream, sgemm_tiled_kernel)(M, N, K, A, B, beta, C);
  return cudaGetLastError();
}

}  // namespace cuda
}  // namespace ecg
