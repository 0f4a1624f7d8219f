// Fully connected layer on the GPU (the contract of kernels/ref/linear_ref.h):
// y[N, out] = x[N, in] W^T + b, W [out, in] row-major, accumulate in float.
//
// Shaped for the study's head (in = 12,544, out = 4, N <= 16): the forward
// runs one warp per output, lanes striding over `in` (coalesced rows of x and
// W) and a shuffle reduction, so 4 outputs still spread 12,544 products over
// 32 lanes each; the implicit GEMM would give the whole layer to one block.
// Backward-data (out terms per input) and backward-weights (N terms per
// weight) are one thread per output element with a short loop: both sums are
// short for this head. Deterministic, no atomics.
#pragma once

#include "kernels/cuda/emu/cuda_compat.h"
#include "kernels/cuda/grid.cuh"
#include "kernels/cuda/reduce.cuh"

namespace ecg {
namespace cuda {

__global__ void __launch_bounds__(256)
    linear_forward_kernel(int N, int in, int out, const float* __restrict__ x,
                          const float* __restrict__ w, const float* __restrict__ b,
                          float* __restrict__ y) {
  const long long o = static_cast<long long>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = static_cast<int>(threadIdx.x & 31u);
  if (o >= static_cast<long long>(N) * out) return;  // whole warps leave together
  const int n = static_cast<int>(o / out), k = static_cast<int>(o % out);
  const float* xr = x + static_cast<long long>(n) * in;
  const float* wr = w + static_cast<long long>(k) * in;
  float acc = 0.f;
  for (int i = lane; i < in; i += 32) acc += xr[i] * wr[i];
  acc = warp_sum(acc);
  if (lane == 0) y[o] = b ? acc + b[k] : acc;
}

__global__ void __launch_bounds__(kElementwiseThreads)
    linear_backward_data_kernel(int N, int in, int out, const float* __restrict__ dy,
                                const float* __restrict__ w, float* __restrict__ dx) {
  const long long total = static_cast<long long>(N) * in;
  for (long long e = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
       e += static_cast<long long>(gridDim.x) * blockDim.x) {
    const int n = static_cast<int>(e / in), i = static_cast<int>(e % in);
    float acc = 0.f;
    for (int o = 0; o < out; ++o)
      acc += dy[static_cast<long long>(n) * out + o] * w[static_cast<long long>(o) * in + i];
    dx[e] = acc;
  }
}

// dw[o, i] = sum_n dy[n, o] x[n, i]; db[o] = sum_n dy[n, o] (db may be null).
__global__ void __launch_bounds__(kElementwiseThreads)
    linear_backward_weights_kernel(int N, int in, int out, const float* __restrict__ x,
                                   const float* __restrict__ dy, float* __restrict__ dw,
                                   float* __restrict__ db) {
  const long long total = static_cast<long long>(out) * in;
  for (long long e = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
       e += static_cast<long long>(gridDim.x) * blockDim.x) {
    const int o = static_cast<int>(e / in), i = static_cast<int>(e % in);
    float acc = 0.f;
    for (int n = 0; n < N; ++n)
      acc += dy[static_cast<long long>(n) * out + o] * x[static_cast<long long>(n) * in + i];
    dw[e] = acc;
    if (db && i == 0) {
      float s = 0.f;
      for (int n = 0; n < N; ++n) s += dy[static_cast<long long>(n) * out + o];
      db[o] = s;
    }
  }
}

inline cudaError_t linear_forward(int N, int in, int out, const float* x, const float* w,
                                  const float* b, float* y, cudaStream_t stream) {
  const long long outputs = static_cast<long long>(N) * out;
  if (outputs <= 0) return cudaSuccess;
  ECG_LAUNCH(dim3(static_cast<unsigned>((outputs + 7) / 8)), dim3(256), 0, stream,
             linear_forward_kernel)
  (N, in, out, x, w, b, y);
  return cudaGetLastError();
}

inline cudaError_t linear_backward_data(int N, int in, int out, const float* dy, const float* w,
                                        float* dx, cudaStream_t stream) {
  return launch_elementwise(static_cast<long long>(N) * in, stream,
                            ECG_KERNEL(linear_backward_data_kernel), N, in, out, dy, w, dx);
}

inline cudaError_t linear_backward_weights(int N, int in, int out, const float* x, const float* dy,
                                           float* dw, float* db, cudaStream_t stream) {
  return launch_elementwise(static_cast<long long>(out) * in, stream,
                            ECG_KERNEL(linear_backward_weights_kernel), N, in, out, x, dy, dw, db);
}

}  // namespace cuda
}  // namespace ecg
