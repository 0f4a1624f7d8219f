// Batch normalisation over (N, C, HW) on the GPU, the contract of
// kernels/ref/batch_norm_ref.h: training forward with batch statistics
// (biased variance for normalising, written out for the caller's running
// statistics), evaluation forward with running statistics, and the backward
// of the training forward; fuse_relu clamps the output and masks dy by y > 0.
//
// Layout NCHW, contiguous; accumulate in float. Training forward and backward
// run one block of 256 threads per channel: each thread sums a strided slice
// of the channel's N*HW values, then the block reduces with warp shuffles
// (reduce.cuh). Statistics are two-pass like the reference (mean, then the
// sum of squared deviations), so a large mean does not cancel the variance.
// invstd is 1 / sqrtf(var + eps) with IEEE sqrt and division (nvcc's default
// -prec-sqrt/-prec-div), not the approximate rsqrtf. Deterministic.
#pragma once

#include "kernels/cuda/emu/cuda_compat.h"
#include "kernels/cuda/grid.cuh"
#include "kernels/cuda/reduce.cuh"
#include "kernels/kernel_api.h"

namespace ecg {
namespace cuda {

constexpr int kBatchNormThreads = 256;

__global__ void __launch_bounds__(kBatchNormThreads)
    batch_norm_forward_train_kernel(BatchNormShape s, const float* __restrict__ x,
                                    const float* __restrict__ gamma, const float* __restrict__ beta,
                                    float eps, int fuse_relu, float* __restrict__ y,
                                    float* __restrict__ save_mean, float* __restrict__ save_invstd,
                                    float* __restrict__ batch_var) {
  ECG_SHARED(float[32], scratch);
  const int c = static_cast<int>(blockIdx.x), t = static_cast<int>(threadIdx.x);
  const float count = static_cast<float>(static_cast<long long>(s.N) * s.HW);
  float sum = 0.f;
  for (int n = 0; n < s.N; ++n) {
    const float* xp = x + (static_cast<long long>(n) * s.C + c) * s.HW;
    for (int i = t; i < s.HW; i += kBatchNormThreads) sum += xp[i];
  }
  const float mean = block_sum(sum, scratch) / count;
  float sq = 0.f;
  for (int n = 0; n < s.N; ++n) {
    const float* xp = x + (static_cast<long long>(n) * s.C + c) * s.HW;
    for (int i = t; i < s.HW; i += kBatchNormThreads) {
      const float d = xp[i] - mean;
      sq += d * d;
    }
  }
  const float var = block_sum(sq, scratch) / count;
  const float invstd = 1.f / sqrtf(var + eps);
  const float scale = gamma[c] * invstd, shift = beta[c];
  for (int n = 0; n < s.N; ++n) {
    const long long base = (static_cast<long long>(n) * s.C + c) * s.HW;
    for (int i = t; i < s.HW; i += kBatchNormThreads) {
      const float v = scale * (x[base + i] - mean) + shift;
      y[base + i] = fuse_relu && v < 0.f ? 0.f : v;
    }
  }
  if (t == 0) {
    save_mean[c] = mean;
    save_invstd[c] = invstd;
    batch_var[c] = var;
  }
}

__global__ void __launch_bounds__(256)
    batch_norm_forward_eval_kernel(BatchNormShape s, const float* __restrict__ x,
                                   const float* __restrict__ gamma, const float* __restrict__ beta,
                                   const float* __restrict__ running_mean,
                                   const float* __restrict__ running_var, float eps, int fuse_relu,
                                   float* __restrict__ y) {
  const long long total = static_cast<long long>(s.N) * s.C * s.HW;
  for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += static_cast<long long>(gridDim.x) * blockDim.x) {
    const int c = static_cast<int>((i / s.HW) % s.C);
    const float invstd = 1.f / sqrtf(running_var[c] + eps);
    const float v = gamma[c] * invstd * (x[i] - running_mean[c]) + beta[c];
    y[i] = fuse_relu && v < 0.f ? 0.f : v;
  }
}

// dbeta = sum g, dgamma = sum g * xhat, dx = gamma * invstd * (g - dbeta/M - xhat * dgamma/M).
__global__ void __launch_bounds__(kBatchNormThreads)
    batch_norm_backward_kernel(BatchNormShape s, const float* __restrict__ x,
                               const float* __restrict__ y, const float* __restrict__ dy,
                               const float* __restrict__ gamma, const float* __restrict__ save_mean,
                               const float* __restrict__ save_invstd, int fuse_relu,
                               float* __restrict__ dx, float* __restrict__ dgamma,
                               float* __restrict__ dbeta) {
  ECG_SHARED(float2[32], scratch);
  const int c = static_cast<int>(blockIdx.x), t = static_cast<int>(threadIdx.x);
  const float count = static_cast<float>(static_cast<long long>(s.N) * s.HW);
  const float mean = save_mean[c], invstd = save_invstd[c];
  float sum_g = 0.f, sum_gx = 0.f;
  for (int n = 0; n < s.N; ++n) {
    const long long base = (static_cast<long long>(n) * s.C + c) * s.HW;
    for (int i = t; i < s.HW; i += kBatchNormThreads) {
      const float g = fuse_relu && !(y[base + i] > 0.f) ? 0.f : dy[base + i];
      sum_g += g;
      sum_gx += g * (x[base + i] - mean) * invstd;
    }
  }
  block_sum2(sum_g, sum_gx, scratch);
  const float k = gamma[c] * invstd, mg = sum_g / count, mgx = sum_gx / count;
  for (int n = 0; n < s.N; ++n) {
    const long long base = (static_cast<long long>(n) * s.C + c) * s.HW;
    for (int i = t; i < s.HW; i += kBatchNormThreads) {
      const float g = fuse_relu && !(y[base + i] > 0.f) ? 0.f : dy[base + i];
      const float xhat = (x[base + i] - mean) * invstd;
      dx[base + i] = k * (g - mg - xhat * mgx);
    }
  }
  if (t == 0) {
    dbeta[c] = sum_g;
    dgamma[c] = sum_gx;
  }
}

// Running statistics (kernel_api.h BatchNormUpdateRunningFn): one thread per
// channel, in double with explicitly rounded operations, so that nvcc does
// not contract them into FMAs and the bits equal the reference's.
__global__ void __launch_bounds__(256)
    batch_norm_update_running_kernel(int C, double m, double unbias,
                                     const float* __restrict__ batch_mean,
                                     const float* __restrict__ batch_var,
                                     float* __restrict__ running_mean,
                                     float* __restrict__ running_var) {
  const int c = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (c >= C) return;
  const double keep = m, take = 1.0 - m;
  running_mean[c] = static_cast<float>(
      __dadd_rn(__dmul_rn(keep, running_mean[c]), __dmul_rn(take, batch_mean[c])));
  running_var[c] = static_cast<float>(
      __dadd_rn(__dmul_rn(keep, running_var[c]), __dmul_rn(__dmul_rn(take, batch_var[c]), unbias)));
}

// ---- host entry points ------------------------------------------------------

inline cudaError_t batch_norm_update_running(int C, double momentum, double unbias,
                                             const float* batch_mean, const float* batch_var,
                                             float* running_mean, float* running_var,
                                             cudaStream_t stream) {
  if (C <= 0) return cudaSuccess;
  ECG_LAUNCH(dim3(static_cast<unsigned>((C + 255) / 256)), dim3(256), 0, stream,
             batch_norm_update_running_kernel)
  (C, momentum, unbias, batch_mean, batch_var, running_mean, running_var);
  return cudaGetLastError();
}

inline cudaError_t batch_norm_forward_train(const BatchNormShape& s, const float* x,
                                            const float* gamma, const float* beta, float eps,
                                            bool fuse_relu, float* y, float* save_mean,
                                            float* save_invstd, float* batch_var,
                                            cudaStream_t stream) {
  if (s.C <= 0) return cudaSuccess;
  ECG_LAUNCH(dim3(static_cast<unsigned>(s.C)), dim3(kBatchNormThreads), 0, stream,
             batch_norm_forward_train_kernel)
  (s, x, gamma, beta, eps, fuse_relu ? 1 : 0, y, save_mean, save_invstd, batch_var);
  return cudaGetLastError();
}

inline cudaError_t batch_norm_forward_eval(const BatchNormShape& s, const float* x,
                                           const float* gamma, const float* beta,
                                           const float* running_mean, const float* running_var,
                                           float eps, bool fuse_relu, float* y,
                                           cudaStream_t stream) {
  const long long n = static_cast<long long>(s.N) * s.C * s.HW;
  if (n <= 0) return cudaSuccess;
  ECG_LAUNCH(dim3(elementwise_blocks(n)), dim3(256), 0, stream, batch_norm_forward_eval_kernel)
  (s, x, gamma, beta, running_mean, running_var, eps, fuse_relu ? 1 : 0, y);
  return cudaGetLastError();
}

inline cudaError_t batch_norm_backward(const BatchNormShape& s, const float* x, const float* y,
                                       const float* dy, const float* gamma, const float* save_mean,
                                       const float* save_invstd, bool fuse_relu, float* dx,
                                       float* dgamma, float* dbeta, cudaStream_t stream) {
  if (s.C <= 0) return cudaSuccess;
  ECG_LAUNCH(dim3(static_cast<unsigned>(s.C)), dim3(kBatchNormThreads), 0, stream,
             batch_norm_backward_kernel)
  (s, x, y, dy, gamma, save_mean, save_invstd, fuse_relu ? 1 : 0, dx, dgamma, dbeta);
  return cudaGetLastError();
}

}  // namespace cuda
}  // namespace ecg
