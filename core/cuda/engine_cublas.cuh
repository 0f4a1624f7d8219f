// The engine's optional cuBLAS path (GPU build only; kernels/cuda/cublas_gemm.cuh
// says which GEMMs and why): with ECG_CUDA_GEMM=cublas in the environment,
// install_engine() replaces the op table's CUDA entries of the fully
// connected layer and of the convolutions (which fall back to the implicit
// GEMM unless the shape is a plain GEMM) with these. One cuBLAS handle on the
// engine's stream, so stream order covers them like every other kernel.
// Included by engine.cu after engine.cuh.
#pragma once

#include <cublas_v2.h>

#include <mutex>
#include <vector>

#include "core/cuda/engine.cuh"
#include "kernels/cuda/cublas_gemm.cuh"

namespace ecg {
namespace cuda {
namespace engine_detail {

struct CublasState {
  std::mutex mu;
  cublasHandle_t handle = nullptr;
  float* ones = nullptr;  // device, ones_len floats of 1.0f (bias rank-1 updates, bias gradients)
  size_t ones_len = 0;
};

inline CublasState& cublas_state() {
  static CublasState* s = new CublasState();  // leaked, like the engine's state
  return *s;
}

inline void check_cublas(cublasStatus_t status, const char* what) {
  // cublasGetStatusName is CUDA 11.4+; the Nano's 10.2 has only the number.
  if (status != CUBLAS_STATUS_SUCCESS)
    fail("cuda: ", what, " (cuBLAS) failed: cublasStatus_t ", static_cast<int>(status));
}

// A device array of at least n ones. Grown rarely (the largest batch or
// plane seen so far); cudaFree waits for the device, so queued work that
// still reads the old array finishes first.
inline const float* cublas_ones(size_t n) {
  CublasState& cs = cublas_state();
  std::lock_guard<std::mutex> lock(cs.mu);
  if (n > cs.ones_len) {
    if (cs.ones) check(cudaFree(cs.ones), "cudaFree (cuBLAS ones)");
    cs.ones = nullptr;
    cs.ones_len = 0;
    check(cudaMalloc(&cs.ones, n * sizeof(float)), "cudaMalloc (cuBLAS ones)");
    const std::vector<float> host(n, 1.f);
    check(
        cudaMemcpyAsync(cs.ones, host.data(), n * sizeof(float), cudaMemcpyHostToDevice, stream()),
        "copy from host (cuBLAS ones)");
    check(cudaStreamSynchronize(stream()), "copy from host (cuBLAS ones, synchronize)");
    cs.ones_len = n;
  }
  return cs.ones;
}

inline cublasHandle_t cublas_handle() {
  return cublas_state().handle;
}

inline void cublas_linear_forward_op(int N, int in, int out, const float* x, const float* w,
                                     const float* b, float* y) {
  const float* ones = cublas_ones(static_cast<size_t>(N));
  check_cublas(cublas_linear_forward(cublas_handle(), N, in, out, x, w, b, y, ones),
               "linear_forward");
}

inline void cublas_linear_backward_data_op(int N, int in, int out, const float* dy, const float* w,
                                           float* dx) {
  check_cublas(cublas_linear_backward_data(cublas_handle(), N, in, out, dy, w, dx),
               "linear_backward_data");
}

inline void cublas_linear_backward_weights_op(int N, int in, int out, const float* x,
                                              const float* dy, float* dw, float* db) {
  const float* ones = cublas_ones(static_cast<size_t>(N));
  check_cublas(cublas_linear_backward_weights(cublas_handle(), N, in, out, x, dy, dw, db, ones),
               "linear_backward_weights");
}

inline void cublas_conv2d_forward_op(const Conv2dShape& s, const float* x, const float* w,
                                     const float* bias, float* y) {
  if (!conv2d_is_plain_gemm(s)) return conv2d_forward_op(s, x, w, bias, y);
  const float* ones = cublas_ones(static_cast<size_t>(s.P) * s.Q);
  check_cublas(cublas_conv1x1_forward(cublas_handle(), s, x, w, bias, y, ones), "conv2d_forward");
}

inline void cublas_conv2d_backward_data_op(const Conv2dShape& s, const float* dy, const float* w,
                                           float* dx) {
  if (!conv2d_is_plain_gemm(s)) return conv2d_backward_data_op(s, dy, w, dx);
  check_cublas(cublas_conv1x1_backward_data(cublas_handle(), s, dy, w, dx), "conv2d_backward_data");
}

inline void cublas_conv2d_backward_weights_op(const Conv2dShape& s, const float* x, const float* dy,
                                              float* dw, float* db) {
  if (!conv2d_is_plain_gemm(s)) return conv2d_backward_weights_op(s, x, dy, dw, db);
  const float* ones = cublas_ones(static_cast<size_t>(s.P) * s.Q);
  check_cublas(cublas_conv1x1_backward_weights(cublas_handle(), s, x, dy, dw, db, ones),
               "conv2d_backward_weights");
}

}  // namespace engine_detail

// Called by install_engine() (engine.cuh) when ECG_CUDA_GEMM=cublas, after
// the stream exists and the own kernels are registered.
void install_cublas_gemm(OpTable& t) {
  using namespace engine_detail;
  CublasState& cs = cublas_state();
  if (!cs.handle) {
    check_cublas(cublasCreate(&cs.handle), "cublasCreate");
    check_cublas(cublasSetStream(cs.handle, stream()), "cublasSetStream");
    // FP32 arithmetic, no TF32 tensor cores: comparable with the own kernels.
    check_cublas(cublasSetMathMode(cs.handle, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
  }
  const DeviceType d = DeviceType::CUDA;
  const Isa any = Isa::Ref;
  t.linear_forward.set(d, any, cublas_linear_forward_op);
  t.linear_backward_data.set(d, any, cublas_linear_backward_data_op);
  t.linear_backward_weights.set(d, any, cublas_linear_backward_weights_op);
  t.conv2d_forward.set(d, any, cublas_conv2d_forward_op);
  t.conv2d_backward_data.set(d, any, cublas_conv2d_backward_data_op);
  t.conv2d_backward_weights.set(d, any, cublas_conv2d_backward_weights_op);
}

}  // namespace cuda
}  // namespace ecg
