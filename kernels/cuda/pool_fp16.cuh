// FP16 pooling and residual add for the half path of the int8 graph
// (conv_fp16.cuh): max pool (exact: the largest input), average pool (float
// sum over the in-bounds window, TensorFlow's divisor, one rounding to half)
// and the add with an optional ReLU (the two halves added in float, which is
// exact or rounds as the correctly rounded half sum would: a float holds the
// sum of two halves to within less than a quarter of a half ulp, so the one
// rounding to half gives the correctly rounded result). Half NHWC in and out;
// memory-bound, one thread per output, consecutive threads on consecutive
// channels. A NaN propagates through max and ReLU (unlike fmaxf), so that a
// half overflow upstream reaches the logits, where the runner reports it.
#pragma once

#include "kernels/cuda/emu/cuda_compat.h"
#include "kernels/cuda/fp16_args.h"
#include "kernels/cuda/grid.cuh"
#include "kernels/cuda/pool_window.cuh"

namespace ecg {
namespace cuda {

// kMax: max pool, else average pool.
template <bool kMax>
__global__ void __launch_bounds__(kElementwiseThreads)
    pool_fp16_kernel(PoolFp16Args a, const __half* __restrict__ x, __half* __restrict__ y) {
  for_each_pool_output(a, [&](long long o, const NhwcPosition& at) {
    float acc = kMax ? -INFINITY : 0.f;
    int count = 0;
    for_each_window_tap(a, at.p, at.q, [&](int, int, int h, int v) {
      const float xv = __half2float(x[nhwc_input_index(a, at.n, h, v, at.c)]);
      acc = kMax ? (xv > acc || xv != xv ? xv : acc) : acc + xv;  // a NaN propagates
      ++count;
    });
    y[o] = __float2half_rn(kMax || count == 0 ? acc : acc / static_cast<float>(count));
  });
}

__global__ void __launch_bounds__(kElementwiseThreads)
    add_fp16_kernel(long long n, int relu, const __half* a, const __half* b, __half* y) {
  for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<long long>(gridDim.x) * blockDim.x) {
    float v = __half2float(a[i]) + __half2float(b[i]);
    if (relu) v = v < 0.f ? 0.f : v;  // not fmaxf: a NaN propagates
    y[i] = __float2half_rn(v);
  }
}

inline cudaError_t max_pool_fp16(const PoolFp16Args& a, const __half* x, __half* y,
                                 cudaStream_t stream) {
  return launch_elementwise(nhwc_outputs(a), stream, ECG_KERNEL(pool_fp16_kernel<true>), a, x, y);
}

inline cudaError_t avg_pool_fp16(const PoolFp16Args& a, const __half* x, __half* y,
                                 cudaStream_t stream) {
  return launch_elementwise(nhwc_outputs(a), stream, ECG_KERNEL(pool_fp16_kernel<false>), a, x, y);
}

// y = a + b (then max(0, .) when relu); y may be a or b.
inline cudaError_t add_fp16(long long n, bool relu, const __half* a, const __half* b, __half* y,
                            cudaStream_t stream) {
  return launch_elementwise(n, stream, ECG_KERNEL(add_fp16_kernel), n, relu ? 1 : 0, a, b, y);
}

}  // namespace cuda
}  // namespace ecg
