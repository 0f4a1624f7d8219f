// Softmax cross-entropy on the GPU (the contract of kernels/ref/loss_ref.h):
// loss = (1/N) sum_n w_n sum_c -t[n,c] log softmax(z)[n,c], w_n = sum_c t[n,c]
// class_weight[c] (1 without weights), probabilities written for backward;
// backward dz = dloss * w_n * ((sum_c t) p - t) / N.
//
// Logits [N, classes] row-major. Forward: one block of 256 threads, a row per
// thread (classes is small: 4 in the study), the row maximum subtracted before
// expf, the per-row losses summed with warp shuffles; the loss is written to
// device memory (a GPU result is read back only when the caller needs it).
// expf/logf are the device library's (within 2 ulp), not the host's.
#pragma once

#include "kernels/cuda/emu/cuda_compat.h"
#include "kernels/cuda/grid.cuh"
#include "kernels/cuda/reduce.cuh"

namespace ecg {
namespace cuda {

__device__ __forceinline__ float xent_sample_weight(int classes, const float* t,
                                                    const float* class_weight) {
  if (!class_weight) return 1.f;
  float w = 0.f;
  for (int c = 0; c < classes; ++c) w += t[c] * class_weight[c];
  return w;
}

__global__ void __launch_bounds__(256)
    softmax_xent_forward_kernel(int N, int classes, const float* __restrict__ z,
                                const float* __restrict__ target,
                                const float* __restrict__ class_weight, float* __restrict__ probs,
                                float* __restrict__ loss) {
  ECG_SHARED(float[32], scratch);
  float total = 0.f;
  for (int n = static_cast<int>(threadIdx.x); n < N; n += static_cast<int>(blockDim.x)) {
    const float* zr = z + static_cast<long long>(n) * classes;
    const float* tr = target + static_cast<long long>(n) * classes;
    float m = zr[0];
    for (int c = 1; c < classes; ++c) m = zr[c] > m ? zr[c] : m;
    float se = 0.f;
    for (int c = 0; c < classes; ++c) se += expf(zr[c] - m);
    const float lse = m + logf(se);
    float row = 0.f;
    for (int c = 0; c < classes; ++c) {
      probs[static_cast<long long>(n) * classes + c] = expf(zr[c] - lse);
      row -= tr[c] * (zr[c] - lse);
    }
    total += xent_sample_weight(classes, tr, class_weight) * row;
  }
  total = block_sum(total, scratch);
  if (threadIdx.x == 0) loss[0] = total / static_cast<float>(N);
}

__global__ void __launch_bounds__(kElementwiseThreads)
    softmax_xent_backward_kernel(int N, int classes, const float* __restrict__ probs,
                                 const float* __restrict__ target,
                                 const float* __restrict__ class_weight, float dloss,
                                 float* __restrict__ dz) {
  for (int n = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x); n < N;
       n += static_cast<int>(gridDim.x * blockDim.x)) {
    const float* tr = target + static_cast<long long>(n) * classes;
    float tsum = 0.f;
    for (int c = 0; c < classes; ++c) tsum += tr[c];
    const float w = xent_sample_weight(classes, tr, class_weight) * dloss / static_cast<float>(N);
    for (int c = 0; c < classes; ++c) {
      const long long i = static_cast<long long>(n) * classes + c;
      dz[i] = w * (tsum * probs[i] - tr[c]);
    }
  }
}

// loss: one float of device memory.
inline cudaError_t softmax_xent_forward(int N, int classes, const float* z, const float* target,
                                        const float* class_weight, float* probs, float* loss,
                                        cudaStream_t stream) {
  if (N <= 0 || classes <= 0) return cudaErrorInvalidValue;
  ECG_LAUNCH(dim3(1), dim3(256), 0, stream, softmax_xent_forward_kernel)
  (N, classes, z, target, class_weight, probs, loss);
  return cudaGetLastError();
}

inline cudaError_t softmax_xent_backward(int N, int classes, const float* probs,
                                         const float* target, const float* class_weight,
                                         float dloss, float* dz, cudaStream_t stream) {
  if (N <= 0 || classes <= 0) return cudaSuccess;
  ECG_LAUNCH(dim3(elementwise_blocks(N)), dim3(kElementwiseThreads), 0, stream,
             softmax_xent_backward_kernel)
  (N, classes, probs, target, class_weight, dloss, dz);
  return cudaGetLastError();
}

}  // namespace cuda
}  // namespace ecg
