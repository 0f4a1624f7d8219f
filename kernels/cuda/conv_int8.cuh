// INT8 convolution on the GPU with the integer epilogue of docs/quantization.md, bit-exact
// with the CPU reference (kernels/ref/int8_ref.h, contract kernels/int8_api.h).
//
// Layouts: x int8 NHWC; weights packed once on the host (conv_int8_pack.h) as
// [K][R][S][Cp] int8 with Cp = C rounded up to 4 (zero weights in the extra
// channels), i.e. each output channel is one row of Kdim = R*S*Cp bytes whose
// 4-byte words hold 4 consecutive input channels of one tap; bias int32 with
// the zero-point term folded in (bias[k] - zp_in * sum w[k]); y NPQK, int8
// (requantized) or int32 (the accumulator). The reduction runs over every
// tap, in bounds or not: a tap in the padding reads x = zp_in, so its term
// (x - zp_in) w is 0 as the reference says, and the folded bias stays exact.
// All integer sums wrap modulo 2^32 like the reference's.
//
// Two arithmetic paths, chosen by the caller from the device's compute
// capability (conv_int8 below):
//  - sm_53 (the Jetson Nano; no int8 dot product, and no 32-bit integer
//    multiply-add: one IMUL is several XMADs): the float implicit GEMM of
//    igemm.cuh, its tiles chosen by K, with the bytes converted to float when
//    a tile is staged in shared memory. Every product |x w| <= 128 * 128 =
//    2^14 is an integer and each float sum covers at most 1,024 of them
//    (longer reductions are split over blockIdx.z into uint32 partials that
//    a second kernel adds), so no partial sum exceeds 2^24: every float
//    operation is exact and the result is bit-exact, at the FP32 FMA rate.
//  - sm_61+: __dp4a on 4 channels per word, int32 accumulators, rows = output
//    pixels and columns = channels (64 x 64 tiles, 4 x 4 per thread); the
//    kernel is compiled with a trap body for older targets, so no __dp4a is
//    ever emitted below sm_61.
#pragma once

#include "kernels/cuda/emu/cuda_compat.h"
#include "kernels/cuda/fast_divmod.cuh"
#include "kernels/cuda/grid.cuh"
#include "kernels/cuda/igemm.cuh"
#include "kernels/cuda/int8_args.h"

namespace ecg {
namespace cuda {

constexpr int kConvInt8Tile = 64;
constexpr int kConvInt8Threads = 256;
constexpr int kConvInt8StepWords = 8;  // K step (4-byte words) of the dp4a path
// Products per float sum on the sm_53 path: 1,024 * 2^14 = 2^24 keeps it exact.
constexpr int kConvInt8ExactProducts = 1024;

// One output of the epilogue, the int8_api.h rule: requantize with a single
// rounding in int64, clamp, then the optional common-scale residual add.
__device__ __forceinline__ void conv_int8_store(const ConvInt8Args& a, long long o, int k,
                                                unsigned acc, void* y, const signed char* res) {
  const int total = static_cast<int>(acc + static_cast<unsigned>(a.bias[k]));
  if (a.out_int32) {
    static_cast<int*>(y)[o] = total;
    return;
  }
  const int sh = a.shift[k];
  long long v = (static_cast<long long>(total) * a.m0[k] + (1LL << (sh - 1))) >> sh;
  v += a.zp_out;
  v = v < a.qmin ? a.qmin : (v > a.qmax ? a.qmax : v);
  int out = static_cast<int>(v);
  if (a.residual) {
    const int sum = a.add_mul_a * (out - a.add_zp_a) + a.add_mul_b * (res[o] - a.add_zp_b) +
                    (1 << (a.add_shift - 1));
    out = a.add_zp_out + (sum >> a.add_shift);
    out = out < a.add_qmin ? a.add_qmin : (out > a.add_qmax ? a.add_qmax : out);
  }
  static_cast<signed char*>(y)[o] = static_cast<signed char>(out);
}

// Where output pixel m reads its window: image offset and top-left corner.
struct ConvInt8Pixel {
  long long base;  // offset of the image in x
  int h0, v0;
  bool valid;
};
__device__ __forceinline__ ConvInt8Pixel conv_int8_pixel(const ConvInt8Args& a, int m) {
  ConvInt8Pixel px;
  px.valid = m < a.N * a.P * a.Q;
  if (!px.valid) m = 0;
  int img, pq, p, q;
  a.pq_div.divmod(m, img, pq);
  a.q_div.divmod(pq, p, q);
  px.base = static_cast<long long>(img) * a.H * a.W * a.C;
  px.h0 = p * a.stride_h - a.pad_top;
  px.v0 = q * a.stride_w - a.pad_left;
  return px;
}

// The float path's walk over one pixel's taps k = (r, t, c), c fastest:
// decoded once, then stepped (a few taps per b_next) with adds and compares.
struct ConvInt8Tap {
  long long origin;          // index of x[img, h0, v0, 0] (may lie outside the image)
  int h0, v0, off, r, t, c;  // off = (r*W + t)*C + c from the origin
};
__device__ __forceinline__ ConvInt8Tap conv_int8_tap(const ConvInt8Args& a, const ConvInt8Pixel& px,
                                                     int k) {
  ConvInt8Tap it;
  int rs;
  a.cp_div.divmod(k, rs, it.c);
  a.s_div.divmod(rs, it.r, it.t);
  it.h0 = px.h0;
  it.v0 = px.v0;
  it.origin = px.base + (static_cast<long long>(px.h0) * a.W + px.v0) * a.C;
  it.off = (it.r * a.W + it.t) * a.C + it.c;
  return it;
}
// Input byte of the tap: zp_in in the spatial padding, 0 in the channel
// padding (whose weights are 0).
__device__ __forceinline__ int conv_int8_tap_load(const ConvInt8Args& a, const signed char* x,
                                                  const ConvInt8Tap& it) {
  const int h = it.h0 + it.r, v = it.v0 + it.t;
  if (h < 0 || h >= a.H || v < 0 || v >= a.W) return a.zp_in;
  return it.c < a.C ? x[it.origin + it.off] : 0;
}
__device__ __forceinline__ void conv_int8_tap_next(const ConvInt8Args& a, ConvInt8Tap& it) {
  it.c += a.step_c;
  it.t += a.step_t;
  it.r += a.step_r;
  it.off += a.step_off;
  if (it.c >= a.Cp) {
    it.c -= a.Cp;
    it.t += 1;
    it.off += a.C - a.Cp;
  }
  if (it.t >= a.S) {
    it.t -= a.S;
    it.r += 1;
    it.off += (a.W - a.S) * a.C;
  }
}

// ---- sm_53 path: the float implicit GEMM (igemm.cuh) on exact integers ----
// Rows = output channels (A = packed weights, contiguous in k), columns =
// output pixels (B = the gathered input bytes); each byte becomes a float when
// its tile is staged. The store converts the exact float sum back to an
// integer and runs the integer epilogue, or writes a split-K partial.
struct ConvInt8Problem {
  ConvInt8Args a;
  const signed char* x;
  void* y;
  const signed char* residual;
  unsigned* partial;  // [splits][N*P*Q][K] when the reduction is split, else null

  struct AIt {
    long long idx;
  };
  __device__ AIt a_begin(int m, int k) const {
    return AIt{static_cast<long long>(m) * a.R * a.S * a.Cp + k};
  }
  __device__ float a_load(const AIt& it) const { return static_cast<float>(a.w[it.idx]); }
  __device__ void a_next(AIt& it) const { it.idx += kIgemmTileK; }

  using BIt = ConvInt8Tap;
  __device__ BIt b_begin(int n, int k) const { return conv_int8_tap(a, conv_int8_pixel(a, n), k); }
  __device__ float b_load(const BIt& it) const {
    return static_cast<float>(conv_int8_tap_load(a, x, it));
  }
  __device__ void b_next(BIt& it) const { conv_int8_tap_next(a, it); }

  struct OutCol {
    long long base;  // index of channel 0 of this output pixel (NPQK)
  };
  __device__ OutCol out_column(int n) const { return OutCol{static_cast<long long>(n) * a.K}; }
  __device__ void store(const OutCol& oc, int m, float v, int z) const {
    const unsigned acc = static_cast<unsigned>(__float2int_rn(v));  // exact: |v| <= 2^24
    if (partial)
      partial[static_cast<long long>(z) * a.N * a.P * a.Q * a.K + oc.base + m] = acc;
    else
      conv_int8_store(a, oc.base + m, m, acc, y, residual);
  }
};

// Sums the split partials (uint32, wrapping like the reference) and runs the
// epilogue: one thread per output.
__global__ void __launch_bounds__(256)
    conv_int8_finish_kernel(ConvInt8Args a, const unsigned* __restrict__ partial, int splits,
                            void* __restrict__ y, const signed char* __restrict__ residual) {
  const long long total = static_cast<long long>(a.N) * a.P * a.Q * a.K;
  for (long long o = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; o < total;
       o += static_cast<long long>(gridDim.x) * blockDim.x) {
    unsigned acc = 0;
    for (int z = 0; z < splits; ++z) acc += partial[z * total + o];
    conv_int8_store(a, o, static_cast<int>(o % a.K), acc, y, residual);
  }
}

// ---- dense layers (a 1x1 convolution on 1x1 images): one warp per output --
// The study's head (12,544 -> 4) has 4 outputs per image: a tiled GEMM would
// give each output to one block walking 12,544 taps; a warp per output
// spreads them over 32 lanes (int32 products of bytes, uint32 sums as the
// reference) and reads the weights once. Used by conv_int8 on both paths.
__global__ void __launch_bounds__(256)
    conv_int8_dense_kernel(ConvInt8Args a, const signed char* __restrict__ x, void* __restrict__ y,
                           const signed char* __restrict__ residual) {
  const long long o = static_cast<long long>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = static_cast<int>(threadIdx.x & 31u);
  if (o >= static_cast<long long>(a.N) * a.K) return;  // whole warps leave together
  const int k = static_cast<int>(o % a.K);
  const signed char* xr = x + (o / a.K) * a.C;
  const signed char* wr = a.w + static_cast<long long>(k) * a.Cp;
  unsigned acc = 0;
  for (int c = lane; c < a.C; c += 32) acc += static_cast<unsigned>(xr[c] * wr[c]);
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, offset);
  if (lane == 0) conv_int8_store(a, o, k, acc, y, residual);
}

// ---- sm_61+ path: __dp4a on words of 4 channels -------------------------------
__global__ void __launch_bounds__(kConvInt8Threads)
    conv_int8_dp4a_kernel(ConvInt8Args a, const signed char* __restrict__ x, void* __restrict__ y,
                          const signed char* __restrict__ residual) {
#if ECG_CUDA_HAS_DP4A
  ECG_SHARED(int[kConvInt8StepWords][kConvInt8Tile + 4], x_s);
  ECG_SHARED(int[kConvInt8StepWords][kConvInt8Tile + 4], w_s);
  const int tid = static_cast<int>(threadIdx.x), tx = tid % 16, ty = tid / 16;
  const int m0 = static_cast<int>(blockIdx.x) * kConvInt8Tile;
  const int n0 = static_cast<int>(blockIdx.y) * kConvInt8Tile;
  const int words = a.R * a.S * a.Cp / 4;  // reduction length in words
  const int* w_words = reinterpret_cast<const int*>(a.w);
  const int lk = tid % kConvInt8StepWords, lr = tid / kConvInt8StepWords;
  ConvInt8Pixel px[2];
  bool w_ok[2];
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    px[i] = conv_int8_pixel(a, m0 + lr + 32 * i);
    w_ok[i] = n0 + lr + 32 * i < a.K;
  }
  // Word kw = 4 channels of one tap: one aligned 32-bit load when C is a
  // multiple of 4, else assembled from bytes (the 3-channel first layer).
  auto x_word = [&](const ConvInt8Pixel& p, int kw) -> int {
    int rs, c, r, t;
    a.cp_div.divmod(kw * 4, rs, c);
    a.s_div.divmod(rs, r, t);
    const int h = p.h0 + r, v = p.v0 + t;
    if (h < 0 || h >= a.H || v < 0 || v >= a.W) {
      const unsigned z = static_cast<unsigned>(a.zp_in) & 0xffu;
      return static_cast<int>(z * 0x01010101u);
    }
    const signed char* src = x + p.base + (static_cast<long long>(h) * a.W + v) * a.C + c;
    if (a.C % 4 == 0) return *reinterpret_cast<const int*>(src);
    unsigned word = 0;
    for (int b = 0; b < 4 && c + b < a.C; ++b)
      word |= (static_cast<unsigned>(src[b]) & 0xffu) << (8 * b);
    return static_cast<int>(word);
  };
  int rx[2], rw[2];
  auto fetch = [&](int kw0) {
    const int kw = kw0 + lk;
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      rx[i] = (px[i].valid && kw < words) ? x_word(px[i], kw) : 0;
      rw[i] = (w_ok[i] && kw < words)
                  ? w_words[static_cast<long long>(n0 + lr + 32 * i) * words + kw]
                  : 0;
    }
  };
  int acc[4][4];
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) acc[i][j] = 0;
  fetch(0);
  for (int kw0 = 0; kw0 < words; kw0 += kConvInt8StepWords) {
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      x_s[lk][lr + 32 * i] = rx[i];
      w_s[lk][lr + 32 * i] = rw[i];
    }
    __syncthreads();
    if (kw0 + kConvInt8StepWords < words) fetch(kw0 + kConvInt8StepWords);
#pragma unroll
    for (int kk = 0; kk < kConvInt8StepWords; ++kk) {
      const int4 x4 = *reinterpret_cast<const int4*>(&x_s[kk][ty * 4]);
      const int4 w4 = *reinterpret_cast<const int4*>(&w_s[kk][tx * 4]);
      const int xv[4] = {x4.x, x4.y, x4.z, x4.w};
      const int wv[4] = {w4.x, w4.y, w4.z, w4.w};
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = __dp4a(xv[i], wv[j], acc[i][j]);
    }
    __syncthreads();
  }
  const int rows = a.N * a.P * a.Q;
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int m = m0 + ty * 4 + i, n = n0 + tx * 4 + j;
      if (m < rows && n < a.K)
        conv_int8_store(a, static_cast<long long>(m) * a.K + n, n, static_cast<unsigned>(acc[i][j]),
                        y, residual);
    }
#else
  __trap();  // never launched below sm_61 (conv_int8 checks the device)
#endif
}

// ---- host entry point ---------------------------------------------------------

// Splits of the sm_53 path's reduction (each at most 1,024 products).
inline int conv_int8_f32_splits(const ConvInt8Args& args) {
  const int steps = (args.R * args.S * args.Cp + kIgemmTileK - 1) / kIgemmTileK;
  const int per_split = kConvInt8ExactProducts / kIgemmTileK;
  return (steps + per_split - 1) / per_split;
}

// Bytes of workspace conv_int8 needs on `path` (0: none).
inline long long conv_int8_workspace_bytes(const ConvInt8Args& args, ConvInt8Path path) {
  const int splits =
      path == ConvInt8Path::kF32 && !conv_int8_is_dense(args) ? conv_int8_f32_splits(args) : 1;
  return splits > 1 ? 4LL * splits * args.N * args.P * args.Q * args.K : 0;
}

// x: N*H*W*C int8; y: N*P*Q*K int8 or int32 (args.out_int32); residual:
// N*P*Q*K int8 when args.residual; workspace: conv_int8_workspace_bytes (may
// be null when 0). compute_capability: 10 * major + minor of the device
// (cudaGetDeviceProperties), so that the dp4a kernel is never launched where
// its body is the trap.
inline cudaError_t conv_int8(const ConvInt8Args& args, ConvInt8Path path, int compute_capability,
                             const signed char* x, void* y, const signed char* residual,
                             void* workspace, cudaStream_t stream) {
  if (!conv_int8_path_supported(path, compute_capability) || args.Cp % 4 != 0 || args.Cp < args.C)
    return cudaErrorInvalidValue;
  const long long rows = static_cast<long long>(args.N) * args.P * args.Q;
  if (rows <= 0 || args.K <= 0) return cudaSuccess;
  if (conv_int8_workspace_bytes(args, path) > 0 && workspace == nullptr)
    return cudaErrorInvalidValue;
  ConvInt8Args a = args;
  prepare_conv_divisors(a);
  if (conv_int8_is_dense(a)) {
    ECG_LAUNCH(dim3(static_cast<unsigned>((rows * a.K + 7) / 8)), dim3(256), 0, stream,
               conv_int8_dense_kernel)
    (a, x, y, residual);
    return cudaGetLastError();
  }
  if (path == ConvInt8Path::kDp4a) {
    dim3 grid(static_cast<unsigned>((rows + kConvInt8Tile - 1) / kConvInt8Tile),
              static_cast<unsigned>((args.K + kConvInt8Tile - 1) / kConvInt8Tile));
    ECG_LAUNCH(grid, dim3(kConvInt8Threads), 0, stream, conv_int8_dp4a_kernel)(a, x, y, residual);
    return cudaGetLastError();
  }
  // One b_next of the float path: igemm_config(K).b_substep taps in (r, t, c) order.
  const int sub = igemm_config(a.K).b_substep, tap_bytes = a.S * a.Cp;
  a.step_r = sub / tap_bytes;
  a.step_t = sub % tap_bytes / a.Cp;
  a.step_c = sub % a.Cp;
  a.step_off = (a.step_r * a.W + a.step_t) * a.C + a.step_c;
  const int splits = conv_int8_f32_splits(a);
  unsigned* partial = splits > 1 ? static_cast<unsigned*>(workspace) : nullptr;
  ConvInt8Problem prob{a, x, y, residual, partial};
  cudaError_t e = igemm_launch(prob, a.K, static_cast<int>(rows), a.R * a.S * a.Cp, splits, stream);
  if (e != cudaSuccess || splits == 1) return e;
  ECG_LAUNCH(dim3(elementwise_blocks(rows * a.K)), dim3(256), 0, stream, conv_int8_finish_kernel)
  (a, partial, splits, y, residual);
  return cudaGetLastError();
}

}  // namespace cuda
}  // namespace ecg
