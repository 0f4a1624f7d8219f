// What the NHWC pooling kernels (pool_int8.cuh, pool_fp16.cuh) share: the
// position of a flat output index and the walk over its window's in-bounds
// taps (kernels/window_taps.h, also used by the references).
#pragma once

#include "kernels/cuda/emu/cuda_compat.h"
#include "kernels/window_taps.h"

namespace ecg {
namespace cuda {

// Outputs of an N x P x Q x C (NHWC) pooling: the kernels' grid-stride range.
template <class Shape>
__host__ __device__ inline long long nhwc_outputs(const Shape& a) {
  return static_cast<long long>(a.N) * a.P * a.Q * a.C;
}

// Output o of an N x P x Q x C (NHWC) tensor: image n, row p, column q, channel c.
struct NhwcPosition {
  long long n;
  int p, q, c;
};

// Shape: any argument struct with the fields P, Q, C (PoolInt8Args, PoolFp16Args).
template <class Shape>
__device__ __forceinline__ NhwcPosition nhwc_position(const Shape& a, long long o) {
  NhwcPosition at;
  at.c = static_cast<int>(o % a.C);
  const long long pix = o / a.C;
  at.q = static_cast<int>(pix % a.Q);
  at.p = static_cast<int>(pix / a.Q % a.P);
  at.n = pix / (static_cast<long long>(a.P) * a.Q);
  return at;
}

// body(o, position of o) for every output o of the pooling (grid-stride loop).
template <class Shape, class Body>
__device__ __forceinline__ void for_each_pool_output(const Shape& a, Body body) {
  const long long total = nhwc_outputs(a);
  for (long long o = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; o < total;
       o += static_cast<long long>(gridDim.x) * blockDim.x)
    body(o, nhwc_position(a, o));
}

// Flat index of input (n, h, v, c) of an N x H x W x C tensor.
template <class Shape>
__device__ __forceinline__ long long nhwc_input_index(const Shape& a, long long n, int h, int v,
                                                      int c) {
  return ((n * a.H + h) * a.W + v) * a.C + c;
}

}  // namespace cuda
}  // namespace ecg
