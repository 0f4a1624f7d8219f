// cuBLAS SGEMM as an optional path for the engine's GEMMs (GPU build only:
// cuBLAS does not run on the emulator). The fully connected layer and the
// convolutions that are plain GEMMs (1x1 kernel, stride 1, no padding: the
// ResNet shortcuts) go through cublasSgemm / cublasSgemmStridedBatched; every
// other convolution stays on the implicit GEMM of conv2d.cuh. Not im2col +
// SGEMM for the rest: the im2col matrix of a 3x3 layer is 9x its input
// (ResNet-11's 16-channel layers at 224 px: 29 MB per image), written and
// read once more per pass, the traffic the implicit GEMM exists to avoid on
// the Nano's 25.6 GB/s; a 1x1 stride-1 layer needs no im2col at all.
//
// Layouts are those of kernels/kernel_api.h (row-major NCHW, OIHW, linear
// weights [out, in]); cuBLAS is column-major, so each row-major product
// C = A B is issued as C^T = B^T A^T (a row-major matrix is its transpose in
// column-major with the same leading dimension). Biases are added with a
// rank-1 GEMM (bias x ones) written first, then the product accumulates with
// beta = 1; bias gradients are GEMVs against ones. `ones` is a device array
// of 1.0f at least max(N, P*Q) long (the caller keeps it).
//
// The handle's math mode is left at CUBLAS_DEFAULT_MATH: FP32 arithmetic
// (no TF32 on Ampere+), so results stay within float rounding of the own
// kernels; the summation order differs, so they are not bit-identical.
// C++14; nvcc only.
#pragma once

#if !defined(__CUDACC__)
#error "kernels/cuda/cublas_gemm.cuh needs nvcc (cuBLAS does not run on the emulator)"
#endif

#include <cublas_v2.h>

#include "kernels/kernel_api.h"

namespace ecg {
namespace cuda {

// A convolution that is one GEMM per image: y_n[K, HW] = w[K, C] x_n[C, HW].
inline bool conv2d_is_plain_gemm(const Conv2dShape& s) {
  return s.R == 1 && s.S == 1 && s.stride_h == 1 && s.stride_w == 1 && s.pad_top == 0 &&
         s.pad_left == 0 && s.pad_bottom == 0 && s.pad_right == 0;
}

#define ECG_CUBLAS_TRY(call)                           \
  do {                                                 \
    const cublasStatus_t ecg_cublas_status_ = (call);  \
    if (ecg_cublas_status_ != CUBLAS_STATUS_SUCCESS) { \
      return ecg_cublas_status_;                       \
    }                                                  \
  } while (0)

// y[N, out] = x[N, in] w[out, in]^T + b (b may be null).
inline cublasStatus_t cublas_linear_forward(cublasHandle_t h, int N, int in, int out,
                                            const float* x, const float* w, const float* b,
                                            float* y, const float* ones) {
  const float one = 1.f, zero = 0.f;
  if (b)  // y^T[out, N] = b[out, 1] ones[1, N]
    ECG_CUBLAS_TRY(
        cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, out, N, 1, &one, b, out, ones, 1, &zero, y, out));
  // y^T[out, N] (+)= w[out, in] x^T[in, N]
  return cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, out, N, in, &one, w, in, x, in, b ? &one : &zero,
                     y, out);
}

// dx[N, in] = dy[N, out] w[out, in].
inline cublasStatus_t cublas_linear_backward_data(cublasHandle_t h, int N, int in, int out,
                                                  const float* dy, const float* w, float* dx) {
  const float one = 1.f, zero = 0.f;
  // dx^T[in, N] = w^T[in, out] dy^T[out, N]
  return cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, in, N, out, &one, w, in, dy, out, &zero, dx, in);
}

// dw[out, in] = dy^T[out, N] x[N, in]; db[out] = sum over N of dy (db may be null).
inline cublasStatus_t cublas_linear_backward_weights(cublasHandle_t h, int N, int in, int out,
                                                     const float* x, const float* dy, float* dw,
                                                     float* db, const float* ones) {
  const float one = 1.f, zero = 0.f;
  // dw^T[in, out] = x^T[in, N] dy[N, out]
  ECG_CUBLAS_TRY(
      cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_T, in, out, N, &one, x, in, dy, out, &zero, dw, in));
  if (!db) return CUBLAS_STATUS_SUCCESS;
  // db[out] = dy^T[out, N] ones[N]
  return cublasSgemv(h, CUBLAS_OP_N, out, N, &one, dy, out, ones, 1, &zero, db, 1);
}

// The plain-GEMM convolution (conv2d_is_plain_gemm), per image n:
// y_n[K, HW] = w[K, C] x_n[C, HW] + bias[K] (bias may be null).
inline cublasStatus_t cublas_conv1x1_forward(cublasHandle_t h, const Conv2dShape& s, const float* x,
                                             const float* w, const float* bias, float* y,
                                             const float* ones) {
  const float one = 1.f, zero = 0.f;
  const int HW = s.P * s.Q;
  const long long x_stride = static_cast<long long>(s.C) * HW;
  const long long y_stride = static_cast<long long>(s.K) * HW;
  if (bias)  // y_n^T[HW, K] = ones[HW, 1] bias^T[1, K]
    ECG_CUBLAS_TRY(cublasSgemmStridedBatched(h, CUBLAS_OP_N, CUBLAS_OP_N, HW, s.K, 1, &one, ones,
                                             HW, 0, bias, 1, 0, &zero, y, HW, y_stride, s.N));
  // y_n^T[HW, K] (+)= x_n^T[HW, C] w^T[C, K]
  return cublasSgemmStridedBatched(h, CUBLAS_OP_N, CUBLAS_OP_N, HW, s.K, s.C, &one, x, HW, x_stride,
                                   w, s.C, 0, bias ? &one : &zero, y, HW, y_stride, s.N);
}

// dx_n[C, HW] = w^T[C, K] dy_n[K, HW].
inline cublasStatus_t cublas_conv1x1_backward_data(cublasHandle_t h, const Conv2dShape& s,
                                                   const float* dy, const float* w, float* dx) {
  const float one = 1.f, zero = 0.f;
  const int HW = s.P * s.Q;
  // dx_n^T[HW, C] = dy_n^T[HW, K] w[K, C]
  return cublasSgemmStridedBatched(h, CUBLAS_OP_N, CUBLAS_OP_T, HW, s.C, s.K, &one, dy, HW,
                                   static_cast<long long>(s.K) * HW, w, s.C, 0, &zero, dx, HW,
                                   static_cast<long long>(s.C) * HW, s.N);
}

// dw[K, C] = sum_n dy_n[K, HW] x_n^T[HW, C]; db[K] = sum over N, HW of dy (db
// may be null). Images are summed in order (beta = 1 after the first), so the
// result does not depend on a reduction schedule.
inline cublasStatus_t cublas_conv1x1_backward_weights(cublasHandle_t h, const Conv2dShape& s,
                                                      const float* x, const float* dy, float* dw,
                                                      float* db, const float* ones) {
  const float one = 1.f, zero = 0.f;
  const int HW = s.P * s.Q;
  for (int n = 0; n < s.N; ++n) {
    const float* xn = x + static_cast<long long>(n) * s.C * HW;
    const float* dyn = dy + static_cast<long long>(n) * s.K * HW;
    const float* beta = n == 0 ? &zero : &one;
    // dw^T[C, K] (+)= x_n[C, HW] dy_n^T[HW, K]
    ECG_CUBLAS_TRY(cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, s.C, s.K, HW, &one, xn, HW, dyn, HW,
                               beta, dw, s.C));
    // db[K] (+)= dy_n[K, HW] ones[HW]
    if (db)
      ECG_CUBLAS_TRY(cublasSgemv(h, CUBLAS_OP_T, HW, s.K, &one, dyn, HW, ones, 1, beta, db, 1));
  }
  return CUBLAS_STATUS_SUCCESS;
}

#undef ECG_CUBLAS_TRY

}  // namespace cuda
}  // namespace ecg
