// INT8 pooling and elementwise add on the GPU, byte-exact with the integer
// reference (kernels/ref/int8_ref.h; contract kernels/int8_api.h): max pool
// on int8 NHWC (padding never wins; the output keeps the input's scale),
// average pool summing (x - zp_in) over the in-bounds window in int32 and
// requantizing with the multiplier of that window's element count, and the
// common-scale residual add. Memory-bound: one thread per output byte,
// consecutive threads on consecutive channels (coalesced NHWC).
#pragma once

#include "kernels/cuda/emu/cuda_compat.h"
#include "kernels/cuda/grid.cuh"
#include "kernels/cuda/int8_args.h"
#include "kernels/cuda/pool_window.cuh"

namespace ecg {
namespace cuda {

__global__ void __launch_bounds__(kElementwiseThreads)
    max_pool_int8_kernel(PoolInt8Args a, const signed char* __restrict__ x,
                         signed char* __restrict__ y) {
  for_each_pool_output(a, [&](long long o, const NhwcPosition& at) {
    int best = -128;
    for_each_window_tap(a, at.p, at.q, [&](int, int, int h, int v) {
      const int xv = x[nhwc_input_index(a, at.n, h, v, at.c)];
      best = xv > best ? xv : best;
    });
    y[o] = static_cast<signed char>(best);
  });
}

__global__ void __launch_bounds__(kElementwiseThreads)
    avg_pool_int8_kernel(PoolInt8Args a, const signed char* __restrict__ x,
                         signed char* __restrict__ y) {
  for_each_pool_output(a, [&](long long o, const NhwcPosition& at) {
    int sum = 0, count = 0;
    for_each_window_tap(a, at.p, at.q, [&](int, int, int h, int v) {
      sum += x[nhwc_input_index(a, at.n, h, v, at.c)] - a.zp_in;
      ++count;
    });
    const int sh = a.shift[count];
    long long v = (static_cast<long long>(sum) * a.m0[count] + (1LL << (sh - 1))) >> sh;
    v += a.zp_out;
    v = v < a.qmin ? a.qmin : (v > a.qmax ? a.qmax : v);
    y[o] = static_cast<signed char>(v);
  });
}

__global__ void __launch_bounds__(kElementwiseThreads)
    add_int8_kernel(long long n, AddInt8Args p, const signed char* __restrict__ a,
                    const signed char* __restrict__ b, signed char* __restrict__ y) {
  for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<long long>(gridDim.x) * blockDim.x) {
    const int sum = p.mul_a * (a[i] - p.zp_a) + p.mul_b * (b[i] - p.zp_b) + (1 << (p.shift - 1));
    int v = p.zp_out + (sum >> p.shift);
    v = v < p.qmin ? p.qmin : (v > p.qmax ? p.qmax : v);
    y[i] = static_cast<signed char>(v);
  }
}

inline cudaError_t max_pool_int8(const PoolInt8Args& a, const signed char* x, signed char* y,
                                 cudaStream_t stream) {
  return launch_elementwise(nhwc_outputs(a), stream, ECG_KERNEL(max_pool_int8_kernel), a, x, y);
}

// a.m0 / a.shift: device arrays of R*S + 1 multipliers indexed by window count.
inline cudaError_t avg_pool_int8(const PoolInt8Args& a, const signed char* x, signed char* y,
                                 cudaStream_t stream) {
  return launch_elementwise(nhwc_outputs(a), stream, ECG_KERNEL(avg_pool_int8_kernel), a, x, y);
}

inline cudaError_t add_int8(long long n, const AddInt8Args& p, const signed char* a,
                            const signed char* b, signed char* y, cudaStream_t stream) {
  return launch_elementwise(n, stream, ECG_KERNEL(add_int8_kernel), n, p, a, b, y);
}

}  // namespace cuda
}  // namespace ecg
