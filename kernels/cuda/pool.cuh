// Pooling on the GPU, NCHW float (the contracts of kernels/ref/pool_ref.h):
// max pool forward (value and flat in-plane index of the first maximum,
// padding never wins) and backward; average pool forward and backward
// (divisor = in-bounds elements of the window, TensorFlow's rule); global
// average pool forward and backward.
//
// Backward passes are gathers: each input element sums the outputs whose
// window covers it (at most ceil(R/stride) * ceil(S/stride) of them), so no
// atomics and a fixed summation order. Global average pool forward reduces
// one plane per warp with shuffles (8 planes per block of 256).
#pragma once

#include "kernels/cuda/emu/cuda_compat.h"
#include "kernels/cuda/grid.cuh"
#include "kernels/cuda/reduce.cuh"
#include "kernels/kernel_api.h"
#include "kernels/window_taps.h"

namespace ecg {
namespace cuda {

// Output rows p whose window covers input row h: [lo, hi] (empty when lo > hi).
__device__ __forceinline__ void pool_cover(int h, int pad, int kernel, int stride, int out, int& lo,
                                           int& hi) {
  const int first = h + pad - kernel + 1;  // smallest p*stride that still covers h
  lo = first <= 0 ? 0 : (first + stride - 1) / stride;
  hi = (h + pad) / stride;
  if (hi > out - 1) hi = out - 1;
}

__device__ __forceinline__ int pool_count(const Pool2dShape& s, int p, int q) {
  const int h0 = p * s.stride_h - s.pad_top, v0 = q * s.stride_w - s.pad_left;
  const int hc = min(h0 + s.R, s.H) - max(h0, 0), vc = min(v0 + s.S, s.W) - max(v0, 0);
  return hc > 0 && vc > 0 ? hc * vc : 0;
}

// Element i of a tensor of planes rows x cols: its plane, its flat in-plane
// index yx and that index's row y and column x.
struct PlanePosition {
  long long plane;
  int yx, y, x;
};

__device__ __forceinline__ PlanePosition plane_position(long long i, int rows, int cols) {
  PlanePosition at;
  at.plane = i / (rows * cols);
  at.yx = static_cast<int>(i % (rows * cols));
  at.y = at.yx / cols;
  at.x = at.yx % cols;
  return at;
}

// Outputs [p0, p1] x [q0, q1] whose windows cover input (h, v).
struct CoverWindow {
  int p0, p1, q0, q1;
};

__device__ __forceinline__ CoverWindow pool_cover_window(const Pool2dShape& s, int h, int v) {
  CoverWindow w;
  pool_cover(h, s.pad_top, s.R, s.stride_h, s.P, w.p0, w.p1);
  pool_cover(v, s.pad_left, s.S, s.stride_w, s.Q, w.q0, w.q1);
  return w;
}

// The backward gather of both pools: for every input element i (grid-stride),
// dx[i] = the sum that add(acc, o, p, q, yx) forms over the outputs (p, q),
// flat index o, whose window covers i (yx: i's flat in-plane index).
template <class AddTerm>
__device__ __forceinline__ void pool_backward_gather(const Pool2dShape& s, float* __restrict__ dx,
                                                     AddTerm add) {
  const long long total = static_cast<long long>(s.N) * s.C * s.H * s.W;
  for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += static_cast<long long>(gridDim.x) * blockDim.x) {
    const PlanePosition at = plane_position(i, s.H, s.W);
    const CoverWindow w = pool_cover_window(s, at.y, at.x);
    const long long base = at.plane * s.P * s.Q;
    float acc = 0.f;
    for (int p = w.p0; p <= w.p1; ++p)
      for (int q = w.q0; q <= w.q1; ++q) add(acc, base + p * s.Q + q, p, q, at.yx);
    dx[i] = acc;
  }
}

__global__ void __launch_bounds__(kElementwiseThreads)
    max_pool_forward_kernel(Pool2dShape s, const float* __restrict__ x, float* __restrict__ y,
                            int* __restrict__ argmax) {
  const long long total = static_cast<long long>(s.N) * s.C * s.P * s.Q;
  for (long long o = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; o < total;
       o += static_cast<long long>(gridDim.x) * blockDim.x) {
    const PlanePosition at = plane_position(o, s.P, s.Q);
    const float* xp = x + at.plane * s.H * s.W;
    float best = -INFINITY;
    int best_i = -1;
    for_each_window_tap(s, at.y, at.x, [&](int, int, int h, int v) {
      const float val = xp[h * s.W + v];
      if (best_i < 0 || val > best) {
        best = val;
        best_i = h * s.W + v;
      }
    });
    y[o] = best;
    argmax[o] = best_i;
  }
}

__global__ void __launch_bounds__(kElementwiseThreads)
    max_pool_backward_kernel(Pool2dShape s, const float* __restrict__ dy,
                             const int* __restrict__ argmax, float* __restrict__ dx) {
  pool_backward_gather(s, dx, [&](float& acc, long long o, int, int, int yx) {
    if (argmax[o] == yx) acc += dy[o];
  });
}

__global__ void __launch_bounds__(kElementwiseThreads)
    avg_pool_forward_kernel(Pool2dShape s, const float* __restrict__ x, float* __restrict__ y) {
  const long long total = static_cast<long long>(s.N) * s.C * s.P * s.Q;
  for (long long o = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; o < total;
       o += static_cast<long long>(gridDim.x) * blockDim.x) {
    const PlanePosition at = plane_position(o, s.P, s.Q);
    const float* xp = x + at.plane * s.H * s.W;
    float acc = 0.f;
    for_each_window_tap(s, at.y, at.x, [&](int, int, int h, int v) { acc += xp[h * s.W + v]; });
    const int cnt = pool_count(s, at.y, at.x);
    y[o] = cnt ? acc / static_cast<float>(cnt) : 0.f;
  }
}

__global__ void __launch_bounds__(kElementwiseThreads)
    avg_pool_backward_kernel(Pool2dShape s, const float* __restrict__ dy, float* __restrict__ dx) {
  pool_backward_gather(s, dx, [&](float& acc, long long o, int p, int q, int) {
    const int cnt = pool_count(s, p, q);
    if (cnt) acc += dy[o] / static_cast<float>(cnt);
  });
}

// One warp per plane: y[plane] = mean of its HW values.
__global__ void __launch_bounds__(256)
    global_avg_pool_forward_kernel(long long planes, int HW, const float* __restrict__ x,
                                   float* __restrict__ y) {
  const long long plane = static_cast<long long>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = static_cast<int>(threadIdx.x & 31u);
  if (plane >= planes) return;  // whole warps leave together: the shuffles stay full-mask
  const float* xp = x + plane * HW;
  float acc = 0.f;
  for (int i = lane; i < HW; i += 32) acc += xp[i];
  acc = warp_sum(acc);
  if (lane == 0) y[plane] = acc / static_cast<float>(HW);
}

__global__ void __launch_bounds__(kElementwiseThreads)
    global_avg_pool_backward_kernel(long long planes, int HW, const float* __restrict__ dy,
                                    float* __restrict__ dx) {
  const long long total = planes * HW;
  for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += static_cast<long long>(gridDim.x) * blockDim.x)
    dx[i] = dy[i / HW] / static_cast<float>(HW);
}

// ---- host entry points ------------------------------------------------------

inline cudaError_t max_pool_forward(const Pool2dShape& s, const float* x, float* y, int* argmax,
                                    cudaStream_t stream) {
  return launch_elementwise(static_cast<long long>(s.N) * s.C * s.P * s.Q, stream,
                            ECG_KERNEL(max_pool_forward_kernel), s, x, y, argmax);
}

inline cudaError_t max_pool_backward(const Pool2dShape& s, const float* dy, const int* argmax,
                                     float* dx, cudaStream_t stream) {
  return launch_elementwise(static_cast<long long>(s.N) * s.C * s.H * s.W, stream,
                            ECG_KERNEL(max_pool_backward_kernel), s, dy, argmax, dx);
}

inline cudaError_t avg_pool_forward(const Pool2dShape& s, const float* x, float* y,
                                    cudaStream_t stream) {
  return launch_elementwise(static_cast<long long>(s.N) * s.C * s.P * s.Q, stream,
                            ECG_KERNEL(avg_pool_forward_kernel), s, x, y);
}

inline cudaError_t avg_pool_backward(const Pool2dShape& s, const float* dy, float* dx,
                                     cudaStream_t stream) {
  return launch_elementwise(static_cast<long long>(s.N) * s.C * s.H * s.W, stream,
                            ECG_KERNEL(avg_pool_backward_kernel), s, dy, dx);
}

inline cudaError_t global_avg_pool_forward(int N, int C, int HW, const float* x, float* y,
                                           cudaStream_t stream) {
  const long long planes = static_cast<long long>(N) * C;
  if (planes <= 0) return cudaSuccess;
  ECG_LAUNCH(dim3(static_cast<unsigned>((planes + 7) / 8)), dim3(256), 0, stream,
             global_avg_pool_forward_kernel)
  (planes, HW, x, y);
  return cudaGetLastError();
}

inline cudaError_t global_avg_pool_backward(int N, int C, int HW, const float* dy, float* dx,
                                            cudaStream_t stream) {
  const long long planes = static_cast<long long>(N) * C;
  if (planes <= 0) return cudaSuccess;
  ECG_LAUNCH(dim3(elementwise_blocks(planes * HW)), dim3(kElementwiseThreads), 0, stream,
             global_avg_pool_backward_kernel)
  (planes, HW, dy, dx);
  return cudaGetLastError();
}

}  // namespace cuda
}  // namespace ecg
