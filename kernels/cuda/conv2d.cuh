// Float convolution on the GPU: forward, backward-data and backward-weights,
// each one implicit GEMM (igemm.cuh) with its own index map, no im2col buffer.
//
// Layouts (the kernel API's, kernels/kernel_api.h): x NCHW, w OIHW (K, C, R, S),
// y / dy NKPQ, asymmetric padding (pad_top/pad_left place the window; the
// bottom/right padding only shows in P and Q). Accumulate in float; every
// kernel overwrites its outputs. All three are deterministic (fixed
// summation order, no atomics).
//
//   forward          M = K, columns = N*P*Q, reduction = C*R*S (one K step
//                    reads 8 taps of a weight row and 8 gathered input pixels)
//   backward-data    M = C, columns = N*H*W, reduction = K*R*S; the tap
//                    (k, r, s) of input pixel (h, v) reads dy at
//                    p = (h + pad_top - r) / stride_h when that divides exactly
//                    (a gather, so no atomics; at stride 2, 3/4 of the taps are
//                    skipped zeros: counted in the paper estimate)
//   backward-weights M = K, columns = C*R*S, reduction = N*P*Q, split over
//                    blockIdx.z into partial sums in a workspace, then summed
//                    in split order by a second kernel; db by a channel sum.
#pragma once

#include "kernels/cuda/emu/cuda_compat.h"
#include "kernels/cuda/igemm.cuh"
#include "kernels/cuda/reduce.cuh"
#include "kernels/kernel_api.h"

namespace ecg {
namespace cuda {

struct ConvForwardProblem {
  Conv2dShape s;
  const float* x;
  const float* w;
  const float* bias;  // may be null
  float* y;

  struct Col {
    long long xbase;  // start of the image in x
    int h0, v0;       // top-left input coordinate of the window
  };
  __device__ Col column(int n) const {
    const int pq = n % (s.P * s.Q), img = n / (s.P * s.Q);
    Col c;
    c.xbase = static_cast<long long>(img) * s.C * s.H * s.W;
    c.h0 = (pq / s.Q) * s.stride_h - s.pad_top;
    c.v0 = (pq % s.Q) * s.stride_w - s.pad_left;
    return c;
  }
  __device__ float a(int m, int k) const {
    return w[static_cast<long long>(m) * s.C * s.R * s.S + k];
  }
  __device__ float b(int k, const Col& col) const {
    const int rs = k % (s.R * s.S), c = k / (s.R * s.S);
    const int h = col.h0 + rs / s.S, v = col.v0 + rs % s.S;
    if (h < 0 || h >= s.H || v < 0 || v >= s.W) return 0.f;
    return x[col.xbase + (static_cast<long long>(c) * s.H + h) * s.W + v];
  }
  __device__ void store(int m, int n, float v, int) const {
    const int pq = n % (s.P * s.Q), img = n / (s.P * s.Q);
    y[(static_cast<long long>(img) * s.K + m) * s.P * s.Q + pq] = bias ? v + bias[m] : v;
  }
};

struct ConvBackwardDataProblem {
  Conv2dShape s;
  const float* dy;
  const float* w;
  float* dx;

  struct Col {
    long long dybase;  // start of the image in dy
    int h, v;          // input pixel, shifted by the top/left padding
  };
  __device__ Col column(int n) const {
    const int hw = n % (s.H * s.W), img = n / (s.H * s.W);
    Col c;
    c.dybase = static_cast<long long>(img) * s.K * s.P * s.Q;
    c.h = hw / s.W + s.pad_top;
    c.v = hw % s.W + s.pad_left;
    return c;
  }
  __device__ float a(int m, int k) const {  // m = input channel, k = (out channel, r, s)
    const int rs = k % (s.R * s.S), ko = k / (s.R * s.S);
    return w[(static_cast<long long>(ko) * s.C + m) * s.R * s.S + rs];
  }
  __device__ float b(int k, const Col& col) const {
    const int rs = k % (s.R * s.S), ko = k / (s.R * s.S);
    const int ph = col.h - rs / s.S, pv = col.v - rs % s.S;
    if (ph < 0 || pv < 0 || ph % s.stride_h != 0 || pv % s.stride_w != 0) return 0.f;
    const int p = ph / s.stride_h, q = pv / s.stride_w;
    if (p >= s.P || q >= s.Q) return 0.f;
    return dy[col.dybase + (static_cast<long long>(ko) * s.P + p) * s.Q + q];
  }
  __device__ void store(int m, int n, float v, int) const {
    const int hw = n % (s.H * s.W), img = n / (s.H * s.W);
    dx[(static_cast<long long>(img) * s.C + m) * s.H * s.W + hw] = v;
  }
};

struct ConvBackwardWeightsProblem {
  Conv2dShape s;
  const float* x;
  const float* dy;
  float* out;  // dw, or the split-K workspace [splits][K][C*R*S]

  struct Col {
    long long cbase;  // channel plane offset within an image
    int r, t;         // kernel tap
  };
  __device__ Col column(int n) const {
    const int rs = n % (s.R * s.S);
    Col c;
    c.cbase = static_cast<long long>(n / (s.R * s.S)) * s.H * s.W;
    c.r = rs / s.S - s.pad_top;
    c.t = rs % s.S - s.pad_left;
    return c;
  }
  __device__ float a(int m, int k) const {  // m = out channel, k = (image, p, q)
    const int pq = k % (s.P * s.Q), img = k / (s.P * s.Q);
    return dy[(static_cast<long long>(img) * s.K + m) * s.P * s.Q + pq];
  }
  __device__ float b(int k, const Col& col) const {
    const int pq = k % (s.P * s.Q), img = k / (s.P * s.Q);
    const int h = (pq / s.Q) * s.stride_h + col.r, v = (pq % s.Q) * s.stride_w + col.t;
    if (h < 0 || h >= s.H || v < 0 || v >= s.W) return 0.f;
    return x[static_cast<long long>(img) * s.C * s.H * s.W + col.cbase +
             static_cast<long long>(h) * s.W + v];
  }
  __device__ void store(int m, int n, float v, int z) const {
    const long long crs = static_cast<long long>(s.C) * s.R * s.S;
    out[(static_cast<long long>(z) * s.K + m) * crs + n] = v;
  }
};

// dst[i] = sum over z < splits of src[z * n + i], in split order.
__global__ void __launch_bounds__(256) sum_splits_kernel(const float* __restrict__ src, int splits,
                                                         long long n, float* __restrict__ dst) {
  const long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  float acc = 0.f;
  for (int z = 0; z < splits; ++z) acc += src[z * n + i];
  dst[i] = acc;
}

// db[k] = sum over images and pixels of dy[img, k, :]; one block per channel.
__global__ void __launch_bounds__(256)
    channel_sum_kernel(const float* __restrict__ dy, int N, int K, int PQ, float* __restrict__ db) {
  ECG_SHARED(float[32], scratch);
  const int k = static_cast<int>(blockIdx.x);
  float acc = 0.f;
  for (int img = 0; img < N; ++img) {
    const float* plane = dy + (static_cast<long long>(img) * K + k) * PQ;
    for (int i = static_cast<int>(threadIdx.x); i < PQ; i += static_cast<int>(blockDim.x))
      acc += plane[i];
  }
  acc = block_sum(acc, scratch);
  if (threadIdx.x == 0) db[k] = acc;
}

// ---- host entry points (asynchronous on `stream` on a GPU) -------------------

inline cudaError_t conv2d_forward(const Conv2dShape& s, const float* x, const float* w,
                                  const float* bias, float* y, cudaStream_t stream) {
  ConvForwardProblem prob{s, x, w, bias, y};
  return igemm_launch(prob, s.K, s.N * s.P * s.Q, s.C * s.R * s.S, 1, stream);
}

inline cudaError_t conv2d_backward_data(const Conv2dShape& s, const float* dy, const float* w,
                                        float* dx, cudaStream_t stream) {
  ConvBackwardDataProblem prob{s, dy, w, dx};
  return igemm_launch(prob, s.C, s.N * s.H * s.W, s.K * s.R * s.S, 1, stream);
}

// K splits of the backward-weights reduction: enough blocks to fill a GPU
// (about 64) when the dw tiles alone are few, each split at least 32 K steps
// (256 products per output) so the partial sums stay worth their traffic.
inline int conv2d_backward_weights_splits(const Conv2dShape& s) {
  const int tiles =
      ((s.K + kIgemmTile - 1) / kIgemmTile) * ((s.C * s.R * s.S + kIgemmTile - 1) / kIgemmTile);
  const int steps = (s.N * s.P * s.Q + kIgemmTileK - 1) / kIgemmTileK;
  int splits = 64 / tiles;
  if (splits > steps / 32) splits = steps / 32;
  return splits < 1 ? 1 : splits;
}

// Floats of workspace conv2d_backward_weights needs (0 when it needs none).
inline long long conv2d_backward_weights_workspace(const Conv2dShape& s) {
  const int splits = conv2d_backward_weights_splits(s);
  return splits > 1 ? static_cast<long long>(splits) * s.K * s.C * s.R * s.S : 0;
}

// dw = corr(x, dy); db = per-channel sum of dy (db may be null). `workspace`
// holds conv2d_backward_weights_workspace(s) floats (may be null when 0).
inline cudaError_t conv2d_backward_weights(const Conv2dShape& s, const float* x, const float* dy,
                                           float* dw, float* db, float* workspace,
                                           cudaStream_t stream) {
  const int splits = conv2d_backward_weights_splits(s);
  const long long n = static_cast<long long>(s.K) * s.C * s.R * s.S;
  if (splits > 1 && workspace == nullptr) return cudaErrorInvalidValue;
  ConvBackwardWeightsProblem prob{s, x, dy, splits > 1 ? workspace : dw};
  cudaError_t e = igemm_launch(prob, s.K, s.C * s.R * s.S, s.N * s.P * s.Q, splits, stream);
  if (e != cudaSuccess) return e;
  if (splits > 1) {
    ECG_LAUNCH(dim3(static_cast<unsigned>((n + 255) / 256)), dim3(256), 0, stream,
               sum_splits_kernel)
    (workspace, splits, n, dw);
    if ((e = cudaGetLastError()) != cudaSuccess) return e;
  }
  if (db) {
    ECG_LAUNCH(dim3(static_cast<unsigned>(s.K)), dim3(256), 0, stream, channel_sum_kernel)
    (dy, s.N, s.K, s.P * s.Q, db);
    e = cudaGetLastError();
  }
  return e;
}

}  // namespace cuda
}  // namespace ecg
