// The L2 kernel penalty (Keras kernel_regularizer=l2(lambda)) on the device,
// the contracts of kernels/ref/loss_ref.h: forward lambda * sum(w^2) into one
// float of device memory, backward dw = 2 * lambda * w * dloss.
//
// Forward: one block of 256 threads (the penalty is per layer, at most 147k
// weights in ResNet-11, and one block keeps the summation order fixed, so the
// value is deterministic): each thread sums the squares of a strided slice in
// float, then a block reduction (reduce.cuh). Backward: elementwise, the
// reference's products in the reference's order, so its bits are the
// reference's.
#pragma once

#include "kernels/cuda/emu/cuda_compat.h"
#include "kernels/cuda/grid.cuh"
#include "kernels/cuda/reduce.cuh"

namespace ecg {
namespace cuda {

constexpr int kL2PenaltyThreads = 256;

__global__ void __launch_bounds__(kL2PenaltyThreads)
    l2_penalty_forward_kernel(long long n, const float* __restrict__ w, float lambda,
                              float* __restrict__ out) {
  ECG_SHARED(float[32], scratch);
  float acc = 0.f;
  for (long long i = threadIdx.x; i < n; i += blockDim.x) acc += w[i] * w[i];
  acc = block_sum(acc, scratch);
  if (threadIdx.x == 0) *out = lambda * acc;
}

__global__ void __launch_bounds__(kElementwiseThreads)
    l2_penalty_backward_kernel(long long n, const float* __restrict__ w, float lambda, float dloss,
                               float* __restrict__ dw) {
  for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<long long>(gridDim.x) * blockDim.x)
    dw[i] = 2.f * lambda * w[i] * dloss;
}

// out: one float of device memory (0 for n = 0).
inline cudaError_t l2_penalty_forward(long long n, const float* w, float lambda, float* out,
                                      cudaStream_t stream) {
  ECG_LAUNCH(dim3(1), dim3(kL2PenaltyThreads), 0, stream, l2_penalty_forward_kernel)
  (n, w, lambda, out);
  return cudaGetLastError();
}

inline cudaError_t l2_penalty_backward(long long n, const float* w, float lambda, float dloss,
                                       float* dw, cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  ECG_LAUNCH(dim3(elementwise_blocks(n)), dim3(kElementwiseThreads), 0, stream,
             l2_penalty_backward_kernel)
  (n, w, lambda, dloss, dw);
  return cudaGetLastError();
}

}  // namespace cuda
}  // namespace ecg
