// Warp-shuffle and block reductions shared by the kernels (device functions
// only, so any number of kernel headers may include this one).
//
// warp_sum: butterfly over the 32 lanes; every lane ends with the total.
// block_sum / block_sum2: warp sums, one slot per warp in shared memory, then
// a second warp-level pass; every thread returns the block total. blockDim.x
// must be a multiple of 32 and at most 1024; every thread of the block must
// call them (they contain __syncthreads). `scratch` is 32 floats (float2 for
// block_sum2) of shared memory owned by the caller, free again on return.
#pragma once

#include "kernels/cuda/emu/cuda_compat.h"

namespace ecg {
namespace cuda {

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

__device__ __forceinline__ float block_sum(float v, float* scratch) {
  const int lane = static_cast<int>(threadIdx.x) & 31, warp = static_cast<int>(threadIdx.x) >> 5;
  const int warps = static_cast<int>(blockDim.x) >> 5;
  v = warp_sum(v);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = warp_sum(lane < warps ? scratch[lane] : 0.f);
  __syncthreads();  // scratch may be reused by the caller
  return v;
}

__device__ __forceinline__ void block_sum2(float& a, float& b, float2* scratch) {
  const int lane = static_cast<int>(threadIdx.x) & 31, warp = static_cast<int>(threadIdx.x) >> 5;
  const int warps = static_cast<int>(blockDim.x) >> 5;
  a = warp_sum(a);
  b = warp_sum(b);
  if (lane == 0) scratch[warp] = make_float2(a, b);
  __syncthreads();
  const float2 s = lane < warps ? scratch[lane] : make_float2(0.f, 0.f);
  a = warp_sum(s.x);
  b = warp_sum(s.y);
  __syncthreads();
}

}  // namespace cuda
}  // namespace ecg
