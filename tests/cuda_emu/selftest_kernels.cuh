// Kernels that exercise the CUDA emulator, including deliberately broken ones
// (planted bugs the emulator must catch). They are ordinary CUDA: the compile
// matrix builds them with nvcc through selftest_kernels.cu, so the emulator is
// tested on text that real CUDA accepts.
#pragma once

#include "kernels/cuda/emu/cuda_compat.h"

namespace ecg {
namespace emu_selftest {

// Block sum reduction through dynamic shared memory (blockDim.x a power of
// two). kBug 0: correct. 1: the barrier inside the tree loop is missing.
// 2: the barrier between filling shared memory and the tree is missing.
template <int kBug>
__global__ void block_sum(const float* in, float* out, int n) {
  ECG_DYNAMIC_SHARED(float, partial);
  const int t = static_cast<int>(threadIdx.x);
  float v = 0.f;
  for (int i = static_cast<int>(blockIdx.x * blockDim.x) + t; i < n;
       i += static_cast<int>(blockDim.x * gridDim.x))
    v += in[i];
  partial[t] = v;
  if (kBug != 2) __syncthreads();
  for (int stride = static_cast<int>(blockDim.x) / 2; stride > 0; stride >>= 1) {
    if (t < stride) partial[t] += partial[t + stride];
    if (kBug != 1) __syncthreads();
  }
  if (t == 0) out[blockIdx.x] = partial[0];
}

// Warp-level sum by butterfly (every lane ends with the total), then one
// atomicAdd per warp. Tests shuffles moving floats and atomics together.
__global__ void warp_sum_atomic(const float* in, float* total, int n) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  float v = i < n ? in[i] : 0.f;
  for (int mask = 16; mask > 0; mask >>= 1) v += __shfl_xor_sync(0xffffffffu, v, mask);
  if ((threadIdx.x & 31u) == 0) atomicAdd(total, v);
}

// Records, per lane, each shuffle form at one width: out[kinds][lanes].
// Values are 1000*warp + lane so that a wrong source is visible.
__global__ void shuffle_table(int width, int* out) {
  const int lane = static_cast<int>(threadIdx.x & 31u);
  const int warp = static_cast<int>(threadIdx.x >> 5);
  const int v = 1000 * warp + lane;
  const int n = static_cast<int>(blockDim.x);
  const int t = static_cast<int>(threadIdx.x);
  out[0 * n + t] = __shfl_sync(0xffffffffu, v, 3, width);
  out[1 * n + t] = __shfl_up_sync(0xffffffffu, v, 1, width);
  out[2 * n + t] = __shfl_down_sync(0xffffffffu, v, 2, width);
  out[3 * n + t] = __shfl_xor_sync(0xffffffffu, v, 1, width);
  out[4 * n + t] = __shfl_xor_sync(0xffffffffu, v, 16, width);
}

// A half warp reduces on its own with a 16-lane mask while the other half
// does not take part: partial masks must rendezvous without the other lanes.
__global__ void half_warp_sum(const double* in, double* out) {
  const unsigned lane = threadIdx.x & 31u;
  double v = in[threadIdx.x];
  if (lane < 16) {
    for (int d = 8; d > 0; d >>= 1) v += __shfl_down_sync(0x0000ffffu, v, d, 16);
    if (lane == 0) out[threadIdx.x >> 5] = v;
  }
}

// Votes and the counting barriers: out[4*warp..] = ballot, any, all; and
// per block the three barrier reductions of (threadIdx.x % 3 == 0).
__global__ void votes(int* out, int* block_out) {
  const int t = static_cast<int>(threadIdx.x);
  const int pred = (t % 3) == 0;
  const unsigned ballot = __ballot_sync(0xffffffffu, pred);
  const int any = __any_sync(0xffffffffu, t >= 40);
  const int all = __all_sync(0xffffffffu, t < 40);
  __syncwarp();
  if ((t & 31) == 0) {
    out[3 * (t >> 5) + 0] = static_cast<int>(ballot);
    out[3 * (t >> 5) + 1] = any;
    out[3 * (t >> 5) + 2] = all;
  }
  const int count = __syncthreads_count(pred);
  const int all_of = __syncthreads_and(pred);
  const int any_of = __syncthreads_or(pred);
  if (t == 0) {
    block_out[0] = count;
    block_out[1] = all_of;
    block_out[2] = any_of;
  }
}

// Atomics of several kinds on one set of counters.
// counters: [0] add int, [1] max int, [2] min int, [3] inc wrap at 9,
// [4] CAS-claimed slot owner (first thread wins), [5] or of bits.
__global__ void atomics(int* counters, unsigned* wrap, float* fsum) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  atomicAdd(&counters[0], 1);
  atomicMax(&counters[1], i);
  atomicMin(&counters[2], i);
  atomicInc(wrap, 9u);
  atomicCAS(&counters[4], -1, i);
  atomicOr(&counters[5], 1 << (i & 15));
  atomicAdd(fsum, 0.5f);
}

// Shared memory is poisoned before each block: reading it unwritten gives
// all-ones bytes (NaN as float) in the emulator.
__global__ void read_unwritten_shared(unsigned* out) {
  ECG_SHARED(unsigned[64], scratch);
  out[threadIdx.x] = scratch[threadIdx.x];
}

// Planted bugs that a GPU would hang on or compute garbage from.
__global__ void divergent_barrier(float* out) {
  if (threadIdx.x < 16) __syncthreads();  // half the block never arrives
  out[threadIdx.x] = 1.f;
}
__global__ void early_exit_before_barrier(float* out, int n) {
  const int i = static_cast<int>(threadIdx.x);
  if (i >= n) return;  // exited threads never reach the barrier below
  out[i] = 1.f;
  __syncthreads();
}
__global__ void lanes_at_different_collectives(int* out) {
  int v = static_cast<int>(threadIdx.x);
  if (threadIdx.x & 1)
    v = __shfl_xor_sync(0xffffffffu, v, 1);
  else
    v = static_cast<int>(__ballot_sync(0xffffffffu, v > 3));
  out[threadIdx.x] = v;
}
__global__ void shuffle_from_lane_outside_mask(int* out) {
  int v = static_cast<int>(threadIdx.x);
  if (threadIdx.x < 8) v = __shfl_sync(0x000000ffu, v, 12);  // lane 12 is not in the mask
  out[threadIdx.x] = v;
}
// 32 KiB static plus the dynamic size of the launch: ptxas cannot see the
// sum, a launch with more than 16 KiB dynamic must fail on sm_53.
__global__ void static_plus_dynamic_shared(float* out) {
  ECG_SHARED(float[8192], big);
  ECG_DYNAMIC_SHARED(float, extra);
  big[threadIdx.x] = 1.f;
  extra[threadIdx.x] = 2.f;
  __syncthreads();
  out[threadIdx.x] = big[threadIdx.x] + extra[threadIdx.x];
}

#if !defined(__CUDACC__)  // emulator only: ptxas rightly refuses 4 MiB of local memory
// A local array larger than the emulator's fiber stack: the guard page below
// the stack turns the overflow into a crash that names the CUDA thread.
__global__ void stack_overflow(int* out, int n) {
  volatile char big[4 << 20];
  for (int i = 0; i < n; i += 4096) big[i] = static_cast<char>(i);
  out[threadIdx.x] = big[n - 1];
}
#endif

// The architecture gate: __dp4a exists from sm_61; the Nano (sm_53) path
// unpacks bytes. Both must give the same int32 for any input.
__device__ __forceinline__ int dot4_s8(int a, int b, int c) {
#if ECG_CUDA_HAS_DP4A
  return __dp4a(a, b, c);
#else
  for (int k = 0; k < 4; ++k) {
    const int ak = static_cast<signed char>((a >> (8 * k)) & 0xff);
    const int bk = static_cast<signed char>((b >> (8 * k)) & 0xff);
    c += ak * bk;
  }
  return c;
#endif
}
__global__ void dot4(const int* a, const int* b, const int* c, int* out, int n) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (i < n) out[i] = dot4_s8(a[i], b[i], c[i]);
}

// Half2 multiply-add and a warp shuffle of __half2: the building blocks of
// the sm_53 FP16 path (the Nano has half2 arithmetic from sm_53 on).
__global__ void half2_dot(const __half2* a, const __half2* b, float* out) {
  const __half2 x = a[threadIdx.x], y = b[threadIdx.x];
  __half2 acc = __hmul2(x, y);
  acc = __hfma2(x, y, acc);  // 2xy
  for (int m = 16; m > 0; m >>= 1) acc = __hadd2(acc, __shfl_xor_sync(0xffffffffu, acc, m));
  if ((threadIdx.x & 31u) == 0) out[threadIdx.x >> 5] = __low2float(acc) + __high2float(acc);
}

// Saturating float -> int8 quantization as the int8 epilogue does it:
// round to nearest even, NaN -> 0, clamp.
__global__ void quantize_s8(const float* in, float inv_scale, signed char* out, int n) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (i < n)
    out[i] = static_cast<signed char>(max(-128, min(127, __float2int_rn(in[i] * inv_scale))));
}

}  // namespace emu_selftest
}  // namespace ecg
