// Elementwise kernels on flat contiguous float buffers (the contracts of
// kernels/ref/elementwise_ref.h and kernels/ref/optimizer_ref.h): ReLU and
// LeakyReLU forward/backward, add, and the Adam/AdamW and SGD updates. Memory-bound:
// one grid-stride loop each, 256 threads per block, no shared memory.
//
// Optimiser updates: the step-dependent scalars (bias corrections, Keras'
// lr_t) are computed once on the host in double, as the reference does, and
// passed as floats; the per-element arithmetic is float.
#pragma once

#include "kernels/cuda/emu/cuda_compat.h"
#include "kernels/cuda/grid.cuh"
#include "kernels/kernel_api.h"

#include <cmath>

namespace ecg {
namespace cuda {

#define ECG_GRID_STRIDE(i, n)                                                                \
  for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); \
       i += static_cast<long long>(gridDim.x) * blockDim.x)

__global__ void __launch_bounds__(kElementwiseThreads)
    relu_forward_kernel(long long n, const float* __restrict__ x, float* __restrict__ y) {
  ECG_GRID_STRIDE(i, n) {
    y[i] = x[i] > 0.f ? x[i] : 0.f;
  }
}

__global__ void __launch_bounds__(kElementwiseThreads)
    relu_backward_kernel(long long n, const float* __restrict__ y, const float* __restrict__ dy,
                         float* __restrict__ dx) {
  ECG_GRID_STRIDE(i, n) {
    dx[i] = y[i] > 0.f ? dy[i] : 0.f;
  }
}

__global__ void __launch_bounds__(kElementwiseThreads)
    leaky_relu_forward_kernel(long long n, const float* __restrict__ x, float negative_slope,
                              float* __restrict__ y) {
  ECG_GRID_STRIDE(i, n) {
    y[i] = x[i] > 0.f ? x[i] : negative_slope * x[i];
  }
}

__global__ void __launch_bounds__(kElementwiseThreads)
    leaky_relu_backward_kernel(long long n, const float* __restrict__ x,
                               const float* __restrict__ dy, float negative_slope,
                               float* __restrict__ dx) {
  ECG_GRID_STRIDE(i, n) {
    dx[i] = x[i] > 0.f ? dy[i] : negative_slope * dy[i];
  }
}

__global__ void __launch_bounds__(kElementwiseThreads)
    add_forward_kernel(long long n, const float* __restrict__ a, const float* __restrict__ b,
                       float* __restrict__ y) {
  ECG_GRID_STRIDE(i, n) {
    y[i] = a[i] + b[i];
  }
}

// Scalars of one Adam step, prepared on the host (adam_step_scalars).
struct AdamStepScalars {
  float lr, lr_t, beta1, beta2, eps, weight_decay, bc1, bc2;
  int decoupled, keras_eps;
};

__global__ void __launch_bounds__(kElementwiseThreads)
    adam_update_kernel(long long n, AdamStepScalars p, float* __restrict__ param,
                       const float* __restrict__ grad, float* __restrict__ m,
                       float* __restrict__ v) {
  ECG_GRID_STRIDE(i, n) {
    float g = grad[i], w = param[i];
    if (p.decoupled)
      w -= p.lr * p.weight_decay * w;
    else if (p.weight_decay != 0.f)
      g += p.weight_decay * w;
    const float mi = p.beta1 * m[i] + (1.f - p.beta1) * g;
    const float vi = p.beta2 * v[i] + (1.f - p.beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    if (p.keras_eps)
      w -= p.lr_t * mi / (sqrtf(vi) + p.eps);
    else
      w -= p.lr * (mi / p.bc1) / (sqrtf(vi / p.bc2) + p.eps);
    param[i] = w;
  }
}

struct SgdStepScalars {
  float lr, momentum, weight_decay, dampening;
  int nesterov, first_step;
};

__global__ void __launch_bounds__(kElementwiseThreads)
    sgd_update_kernel(long long n, SgdStepScalars p, float* __restrict__ param,
                      const float* __restrict__ grad, float* __restrict__ buf) {
  ECG_GRID_STRIDE(i, n) {
    float g = grad[i] + p.weight_decay * param[i];
    if (p.momentum != 0.f) {
      const float b = p.first_step ? g : p.momentum * buf[i] + (1.f - p.dampening) * g;
      buf[i] = b;
      g = p.nesterov ? g + p.momentum * b : b;
    }
    param[i] -= p.lr * g;
  }
}

#undef ECG_GRID_STRIDE

// ---- host entry points ------------------------------------------------------

inline cudaError_t relu_forward(long long n, const float* x, float* y, cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  ECG_LAUNCH(dim3(elementwise_blocks(n)), dim3(kElementwiseThreads), 0, stream, relu_forward_kernel)
  (n, x, y);
  return cudaGetLastError();
}

inline cudaError_t relu_backward(long long n, const float* y, const float* dy, float* dx,
                                 cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  ECG_LAUNCH(dim3(elementwise_blocks(n)), dim3(kElementwiseThreads), 0, stream,
             relu_backward_kernel)
  (n, y, dy, dx);
  return cudaGetLastError();
}

// The body of an elementwise host entry point: nothing to do for n <= 0, else
// one grid-stride launch over n values on `stream`, and the launch's error.
#define ECG_ELEMENTWISE_LAUNCH(n, stream, kernel, ...)                                  \
  if ((n) <= 0) return cudaSuccess;                                                     \
  ECG_LAUNCH(dim3(elementwise_blocks(n)), dim3(kElementwiseThreads), 0, stream, kernel) \
  (__VA_ARGS__);                                                                        \
  return cudaGetLastError()

inline cudaError_t leaky_relu_forward(long long n, const float* x, float negative_slope, float* y,
                                      cudaStream_t stream) {
  ECG_ELEMENTWISE_LAUNCH(n, stream, leaky_relu_forward_kernel, n, x, negative_slope, y);
}

inline cudaError_t leaky_relu_backward(long long n, const float* x, const float* dy,
                                       float negative_slope, float* dx, cudaStream_t stream) {
  ECG_ELEMENTWISE_LAUNCH(n, stream, leaky_relu_backward_kernel, n, x, dy, negative_slope, dx);
}

inline cudaError_t add_forward(long long n, const float* a, const float* b, float* y,
                               cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  ECG_LAUNCH(dim3(elementwise_blocks(n)), dim3(kElementwiseThreads), 0, stream, add_forward_kernel)
  (n, a, b, y);
  return cudaGetLastError();
}

inline AdamStepScalars adam_step_scalars(const AdamParams& p) {
  const double t = static_cast<double>(p.step);
  const double bc1 = 1.0 - std::pow(static_cast<double>(p.beta1), t);
  const double bc2 = 1.0 - std::pow(static_cast<double>(p.beta2), t);
  AdamStepScalars s;
  s.lr = p.lr;
  s.lr_t = static_cast<float>(p.lr * std::sqrt(bc2) / bc1);
  s.beta1 = p.beta1;
  s.beta2 = p.beta2;
  s.eps = p.eps;
  s.weight_decay = p.weight_decay;
  s.bc1 = static_cast<float>(bc1);
  s.bc2 = static_cast<float>(bc2);
  s.decoupled = p.decoupled ? 1 : 0;
  s.keras_eps = p.keras_eps ? 1 : 0;
  return s;
}

inline cudaError_t adam_update(long long n, const AdamParams& p, float* param, const float* grad,
                               float* m, float* v, cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  ECG_LAUNCH(dim3(elementwise_blocks(n)), dim3(kElementwiseThreads), 0, stream, adam_update_kernel)
  (n, adam_step_scalars(p), param, grad, m, v);
  return cudaGetLastError();
}

inline cudaError_t sgd_update(long long n, const SgdParams& p, float* param, const float* grad,
                              float* buf, cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  SgdStepScalars s{p.lr,        p.momentum,         p.weight_decay,
                   p.dampening, p.nesterov ? 1 : 0, p.first_step ? 1 : 0};
  ECG_LAUNCH(dim3(elementwise_blocks(n)), dim3(kElementwiseThreads), 0, stream, sgd_update_kernel)
  (n, s, param, grad, buf);
  return cudaGetLastError();
}

#undef ECG_ELEMENTWISE_LAUNCH

}  // namespace cuda
}  // namespace ecg
