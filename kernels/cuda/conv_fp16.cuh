// FP16 (half2) convolution and dense layer for sm_53 (the Jetson Nano) with
// int8 weight storage: the int8 graph of quant/ run on half activations.
//
// Layouts: x half NHWC; weights the int8 runner's packed bytes
// (conv_int8_pack.h: [K][R][S][Cp] int8, Cp = C rounded up to 4, zero weights
// in the padding channels); y NPQK half (or float for the logits); residual
// NPQK half. NHWC because the int8 graph is channels-last (its weights, its
// flatten order before the dense layer, its planned arena), and because two
// neighbouring channels of one tap are one aligned 32-bit word: a half2
// operand is then a single load, with no shuffling.
//
// Arithmetic. A reduction index is a pair of channels (c, c+1) of one tap, so
// each operand word is a half2 and one __hfma2 does two multiply-adds (the
// Nano's FP16 peak, 472 GFLOP/s, is twice its FP32 peak for exactly this
// reason): acc.lo sums the even channels, acc.hi the odd ones.
//   weights: per output channel k, s_w[k] = m[k] * 2^-e[k] with e[k] an
//     integer (m in [2^-1/2, 2^1/2] unless e is clamped to [-5, 24]). A weight
//     is staged in shared memory as the half q * 2^-e, which is exact (q has 8
//     bits, the power of two only moves the exponent, and the clamp keeps it
//     in half range, down to the subnormals): no rounding enters through the
//     weights, and the staged values are about as large as the real weights,
//     so the partial sums stay about as large as the layer's real outputs (far
//     from the half overflow at 65,504). The remainder m[k] is applied in float
//     in the epilogue. Staging: the bytes, offset by 128, are placed in the
//     mantissa of 1024 (one PRMT: 0x6400 | (q + 128) is the half 1152 + q) and
//     one HFMA2 with (2^-e, -1152 * 2^-e) gives q * 2^-e, exactly.
//   accumulation: half2 over one K step of 16 channel pairs (each lane sums
//     16 exact products, with 16 roundings of at most u = 2^-11 relative), then
//     folded into a float accumulator (the two lanes added in half, one more
//     rounding, converted to float exactly, added in float). Half accumulation
//     over a whole reduction would be twice as cheap in the fold but its error
//     grows with the length (1,152 terms in ResNet-11's largest layers: a
//     worst case of 0.28 x sum|products|, a typical one of ~1 %); the fold
//     bounds the half part by 17 u = 0.8 % of sum|products| in the worst case
//     whatever the length, for about one extra instruction per 5 HFMA2.
//   error bound (tests/cuda_emu/test_conv_fp16.cpp derives it): per output,
//     |y - y_exact| <= u |y| + 2^-25 + (1 + u) E,
//     E = (L + 1) u S + m steps (L + 1) 2^-25 + (steps + 4) 2^-24 (S + |bias| + |res|)
//     with L = 16, S = sum |x q s_w| over the reduction, steps = K steps, the
//     2^-25 terms for subnormal partial sums and outputs, and y_exact computed
//     from the same half inputs and the same dequantized int8 weights.
//   epilogue (float): y = acc * m[k] + bias[k] (+ residual) (ReLU), rounded
//     once to half (or written as float for the logits).
//
// Tiles (256 threads, K step 16 channel pairs, half2 operands in shared
// memory, register prefetch of the next step), chosen by K (output channels):
//   K <= 16   16 x 256 (4 x 4 outputs per thread)
//   K <= 64   64 x 128 (8 x 4)
//   K  > 64  128 x 64  (8 x 4)
// Each thread keeps a half2 and a float accumulator per output; 8 x 4 keeps
// them under 128 registers so that two blocks (16 warps) share the SM (8 x 8
// would need about 170 registers and leave 8 warps).
// Dense layers (1x1 convolutions of 1x1 images, the 12,544 -> 4 head): one
// warp per output, memory-bound, products and sums in float.
#pragma once

#include <cstring>

#include "kernels/cuda/emu/cuda_compat.h"
#include "kernels/cuda/fp16_args.h"
#include "kernels/cuda/grid.cuh"

namespace ecg {
namespace cuda {

constexpr int kConvFp16Threads = 256;
// How the kernel gathers input pairs (its kGather argument): through the
// (r, t, c) iterator, as two halves (odd C or an unaligned x) or as one word;
// or, when a K step's 32 channels are one tap (C a multiple of 32) or two
// (C = 16), with one bounds check per tap and loads at fixed offsets.
constexpr int kGatherHalves = 0, kGatherPairs = 1, kGatherOneTap = 2, kGatherTwoTaps = 3;
constexpr int kConvFp16Pad = 4;  // words of padding per shared row (16-byte aligned rows)

__device__ __forceinline__ __half2 conv_fp16_bits(unsigned u) {
  __half2 h;
  memcpy(static_cast<void*>(&h), &u, sizeof(h));
  return h;
}

// Two int8 weights (bytes b0, b1 of `word`, selected by `sel`) as the exact
// half2 (q0 * 2^-e, q1 * 2^-e); see the header.
__device__ __forceinline__ __half2 conv_fp16_dequant(unsigned word_flipped, unsigned sel, __half2 p,
                                                     __half2 c) {
  return __hfma2(conv_fp16_bits(__byte_perm(word_flipped, 0x64646464u, sel)), p, c);
}

// Where output pixel n reads its window: image offset and top-left corner.
struct ConvFp16Tap {
  long long origin;          // index of x[img, h0, v0, 0] (may lie outside the image)
  int h0, v0, off, r, t, c;  // off = (r*W + t)*C + c from the origin
};
__device__ __forceinline__ ConvFp16Tap conv_fp16_tap(const ConvFp16Args& a, int n, int k) {
  int img, pq, p, q, rs;
  a.pq_div.divmod(n, img, pq);
  a.q_div.divmod(pq, p, q);
  ConvFp16Tap it;
  it.h0 = p * a.stride_h - a.pad_top;
  it.v0 = q * a.stride_w - a.pad_left;
  it.origin =
      (static_cast<long long>(img) * a.H * a.W + static_cast<long long>(it.h0) * a.W + it.v0) * a.C;
  a.cp_div.divmod(k, rs, it.c);
  a.s_div.divmod(rs, it.r, it.t);
  it.off = (it.r * a.W + it.t) * a.C + it.c;
  return it;
}
// Channels (c, c+1) of the tap as half2 bits: 0 in the spatial and channel
// padding. kPairs: C is even and x 4-byte aligned, so the pair is one word.
template <bool kPairs>
__device__ __forceinline__ unsigned conv_fp16_tap_load(const ConvFp16Args& a, const __half* x,
                                                       const ConvFp16Tap& it) {
  const int h = it.h0 + it.r, v = it.v0 + it.t;
  if (static_cast<unsigned>(h) >= static_cast<unsigned>(a.H) ||
      static_cast<unsigned>(v) >= static_cast<unsigned>(a.W) || it.c >= a.C)
    return 0u;
  const __half* p = x + it.origin + it.off;
  if (kPairs) return *reinterpret_cast<const unsigned*>(p);
  const unsigned lo = __half_as_ushort(p[0]);
  const unsigned hi = it.c + 1 < a.C ? __half_as_ushort(p[1]) : 0u;
  return lo | (hi << 16);
}
__device__ __forceinline__ void conv_fp16_tap_next(const ConvFp16Args& a, ConvFp16Tap& it) {
  it.c += a.step_c;
  it.t += a.step_t;
  it.r += a.step_r;
  it.off += a.step_off;
  if (it.c >= a.Cp) {
    it.c -= a.Cp;
    it.t += 1;
    it.off += a.wrap_c_off;
  }
  if (it.t >= a.S) {
    it.t -= a.S;
    it.r += 1;
    it.off += a.wrap_t_off;
  }
}

// Epilogue of one output: scale, bias, residual, ReLU, store.
__device__ __forceinline__ void conv_fp16_store(const ConvFp16Args& a, long long o, int k,
                                                float acc, void* y, const __half* residual) {
  float v = acc * a.scale[k] + a.bias[k];
  if (a.residual) v += __half2float(residual[o]);
  if (a.relu) v = v < 0.f ? 0.f : v;  // not fmaxf: a NaN (from an overflow) must propagate
  if (a.out_float)
    static_cast<float*>(y)[o] = v;
  else
    static_cast<__half*>(y)[o] = __float2half_rn(v);
}

// Rows = output channels (A = dequantized weights), columns = output pixels
// (B = gathered input pairs); kThreadsM x (256 / kThreadsM) threads with
// kTM x kTN outputs each, in groups of 4 rows / 4 columns as in igemm.cuh
// (conflict-free 128-bit shared reads).
// kGather: how a thread gathers its input pairs (the kGather* constants above).
template <int kThreadsM, int kTM, int kTN, int kGather>
__global__ void __launch_bounds__(kConvFp16Threads)
    conv_fp16_kernel(ConvFp16Args a, const __half* __restrict__ x, void* y,
                     const __half* residual) {  // y may be the residual (in place)
  constexpr int kThreadsN = kConvFp16Threads / kThreadsM;
  constexpr int kTileM = kThreadsM * kTM, kTileN = kThreadsN * kTN;
  constexpr int kGroupStrideM = kThreadsM * 4, kGroupStrideN = kThreadsN * 4;
  constexpr int kStep = kConvFp16StepPairs;
  constexpr int kWordsPerRow = kStep / 2;  // 4 weight bytes (2 channel pairs) per word
  constexpr int kRowsPerPass = kConvFp16Threads / kWordsPerRow;
  constexpr int kAPer = (kTileM + kRowsPerPass - 1) / kRowsPerPass;
  constexpr int kBPer = kTileN * kStep / kConvFp16Threads;  // B pairs per thread per step
  constexpr int kBSub = kConvFp16Threads / kTileN;          // their spacing in pairs
  ECG_SHARED(unsigned[kStep][kTileM + kConvFp16Pad], a_s);
  ECG_SHARED(unsigned[kStep][kTileN + kConvFp16Pad], b_s);

  const int tid = static_cast<int>(threadIdx.x);
  const int tx = tid % kThreadsN, ty = tid / kThreadsN;
  const int m0 = static_cast<int>(blockIdx.y) * kTileM;
  const int n0 = static_cast<int>(blockIdx.x) * kTileN;
  const int M = a.K, Ncol = a.N * a.P * a.Q;
  const int kdim = a.R * a.S * a.Cp;  // bytes of a weight row
  const int pairs = kdim / 2;

  // A loader: word a_w (channel pairs 2 a_w, 2 a_w + 1 of the step) of rows
  // a_m + kRowsPerPass * i; the row's staging constants are read once.
  const int a_w = tid % kWordsPerRow, a_m = tid / kWordsPerRow;
  bool a_ok[kAPer];
  const signed char* a_ptr[kAPer];
  __half2 a_p[kAPer], a_c[kAPer];
#pragma unroll
  for (int i = 0; i < kAPer; ++i) {
    const int m = m0 + a_m + kRowsPerPass * i;
    a_ok[i] = a_m + kRowsPerPass * i < kTileM && m < M;
    const int row = a_ok[i] ? m : 0;
    a_ptr[i] = a.w + static_cast<long long>(row) * kdim + 4 * a_w;
    a_p[i] = conv_fp16_bits(a.w_stage[2 * row]);
    a_c[i] = conv_fp16_bits(a.w_stage[2 * row + 1]);
  }
  // B loader: pairs b_k + kBSub i of column b_n. Generic: one iterator over
  // (r, t, c). Tap-aligned (C a multiple of 32, or C = 16): a step's 16 pairs
  // lie in one tap (or two), so the bounds are checked once per tap and the
  // pairs are loads at fixed offsets from it.
  constexpr bool kTapAligned = kGather >= kGatherOneTap;
  constexpr int kSlots = kGather == kGatherTwoTaps ? 2 : 1;
  constexpr int kPerSlot = kBPer / kSlots;
  const int b_n = tid % kTileN, b_k = tid / kTileN;
  const bool b_ok = n0 + b_n < Ncol;
  ConvFp16Tap bit = conv_fp16_tap(a, b_ok ? n0 + b_n : 0, kTapAligned ? 0 : 2 * b_k);
  int tap = 0, cb = 0;  // tap-aligned: index of the step's first tap, its channel base
  const int taps = a.R * a.S;

  unsigned ra[kAPer], rb[kBPer];
  auto fetch = [&](int kp0) {  // loads step kp0 and advances past it
#pragma unroll
    for (int i = 0; i < kAPer; ++i) {
      ra[i] = (a_ok[i] && 2 * kp0 + 4 * a_w < kdim)
                  ? *reinterpret_cast<const unsigned*>(a_ptr[i] + 2 * kp0)
                  : 0u;
    }
    if (kTapAligned) {
      const __half* base[kSlots];
      bool ok[kSlots];
#pragma unroll
      for (int sl = 0; sl < kSlots; ++sl) {
        const int h = bit.h0 + bit.r, v = bit.v0 + bit.t;
        ok[sl] = b_ok && tap + sl < taps && static_cast<unsigned>(h) < static_cast<unsigned>(a.H) &&
                 static_cast<unsigned>(v) < static_cast<unsigned>(a.W);
        base[sl] = ok[sl] ? x + bit.origin + (bit.r * a.W + bit.t) * a.C + cb : x;
        if (kSlots == 2 && sl == 0 && ++bit.t == a.S) bit.t = 0, ++bit.r;  // the second tap
      }
#pragma unroll
      for (int i = 0; i < kBPer; ++i) {
        const int sl = i / kPerSlot;
        const int ch = ok[sl] ? 2 * (b_k + kBSub * i) - 16 * sl : 0;  // two taps: C = 16
        const unsigned word = *reinterpret_cast<const unsigned*>(base[sl] + ch);
        rb[i] = ok[sl] ? word : 0u;
      }
      if (kSlots == 2) {
        if (++bit.t == a.S) bit.t = 0, ++bit.r;
        tap += 2;
      } else if ((cb += 2 * kStep) == a.C) {
        cb = 0;
        ++tap;
        if (++bit.t == a.S) bit.t = 0, ++bit.r;
      }
    } else {
#pragma unroll
      for (int i = 0; i < kBPer; ++i) {
        rb[i] = (b_ok && kp0 + b_k + kBSub * i < pairs)
                    ? conv_fp16_tap_load<kGather == kGatherPairs>(a, x, bit)
                    : 0u;
        conv_fp16_tap_next(a, bit);
      }
    }
  };

  float facc[kTM][kTN];
  __half2 hacc[kTM][kTN];
  const __half2 zero = conv_fp16_bits(0u);
#pragma unroll
  for (int i = 0; i < kTM; ++i)
#pragma unroll
    for (int j = 0; j < kTN; ++j) facc[i][j] = 0.f;

  fetch(0);
  for (int kp0 = 0; kp0 < pairs; kp0 += kStep) {
#pragma unroll
    for (int i = 0; i < kAPer; ++i) {
      if (kTileM % kRowsPerPass == 0 || a_m + kRowsPerPass * i < kTileM) {
        // Bytes flipped by 128 give q + 128 in the mantissa (a zero word,
        // past the row or the tile, stages exact zeros).
        const unsigned f = ra[i] ^ 0x80808080u;
        const __half2 lo = conv_fp16_dequant(f, 0x4140u, a_p[i], a_c[i]);
        const __half2 hi = conv_fp16_dequant(f, 0x4342u, a_p[i], a_c[i]);
        unsigned ulo, uhi;
        memcpy(&ulo, static_cast<const void*>(&lo), 4);
        memcpy(&uhi, static_cast<const void*>(&hi), 4);
        a_s[2 * a_w][a_m + kRowsPerPass * i] = ulo;
        a_s[2 * a_w + 1][a_m + kRowsPerPass * i] = uhi;
      }
    }
#pragma unroll
    for (int i = 0; i < kBPer; ++i) b_s[b_k + kBSub * i][b_n] = rb[i];
    __syncthreads();
    if (kp0 + kStep < pairs) fetch(kp0 + kStep);  // in flight during the HFMA2s

#pragma unroll
    for (int i = 0; i < kTM; ++i)
#pragma unroll
      for (int j = 0; j < kTN; ++j) hacc[i][j] = zero;
#pragma unroll
    for (int kk = 0; kk < kStep; ++kk) {
      __half2 av[kTM], bv[kTN];
#pragma unroll
      for (int g = 0; g < kTM / 4; ++g) {
        const uint4 a4 = *reinterpret_cast<const uint4*>(&a_s[kk][ty * 4 + g * kGroupStrideM]);
        av[4 * g] = conv_fp16_bits(a4.x), av[4 * g + 1] = conv_fp16_bits(a4.y);
        av[4 * g + 2] = conv_fp16_bits(a4.z), av[4 * g + 3] = conv_fp16_bits(a4.w);
      }
#pragma unroll
      for (int g = 0; g < kTN / 4; ++g) {
        const uint4 b4 = *reinterpret_cast<const uint4*>(&b_s[kk][tx * 4 + g * kGroupStrideN]);
        bv[4 * g] = conv_fp16_bits(b4.x), bv[4 * g + 1] = conv_fp16_bits(b4.y);
        bv[4 * g + 2] = conv_fp16_bits(b4.z), bv[4 * g + 3] = conv_fp16_bits(b4.w);
      }
#pragma unroll
      for (int i = 0; i < kTM; ++i)
#pragma unroll
        for (int j = 0; j < kTN; ++j) hacc[i][j] = __hfma2(av[i], bv[j], hacc[i][j]);
    }
    // Fold: even + odd channels in half (one rounding), then into float.
#pragma unroll
    for (int i = 0; i < kTM; ++i)
#pragma unroll
      for (int j = 0; j < kTN; ++j)
        facc[i][j] += __half2float(__hadd(__low2half(hacc[i][j]), __high2half(hacc[i][j])));
    __syncthreads();  // the next step overwrites the tiles
  }

#pragma unroll
  for (int j = 0; j < kTN; ++j) {
    const int n = n0 + tx * 4 + (j / 4) * kGroupStrideN + j % 4;
    if (n >= Ncol) continue;
#pragma unroll
    for (int i = 0; i < kTM; ++i) {
      const int m = m0 + ty * 4 + (i / 4) * kGroupStrideM + i % 4;
      if (m < M) conv_fp16_store(a, static_cast<long long>(n) * M + m, m, facc[i][j], y, residual);
    }
  }
}

// ---- dense layers (a 1x1 convolution on 1x1 images): one warp per output --
// Memory-bound (the 12,544 -> 4 head reads 25 KB of halves and 50 KB of
// weights for 0.1 MFLOP), so the arithmetic is float: exact products of the
// half input and the exactly staged weight, float sums (C / 64 per lane, then
// a 5-level shuffle tree), the same epilogue as the convolution.
__global__ void __launch_bounds__(256)
    conv_fp16_dense_kernel(ConvFp16Args a, const __half* __restrict__ x, void* y,
                           const __half* residual) {
  const long long o = static_cast<long long>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = static_cast<int>(threadIdx.x & 31u);
  if (o >= static_cast<long long>(a.N) * a.K) return;  // whole warps leave together
  const int k = static_cast<int>(o % a.K);
  const __half* xr = x + (o / a.K) * a.C;
  const unsigned short* wr =
      reinterpret_cast<const unsigned short*>(a.w + static_cast<long long>(k) * a.Cp);
  const __half2 p = conv_fp16_bits(a.w_stage[2 * k]), c = conv_fp16_bits(a.w_stage[2 * k + 1]);
  float acc = 0.f;
  for (int cc = 2 * lane; cc < a.C; cc += 64) {  // channel pair (cc, cc + 1); Cp is even
    const unsigned word = (static_cast<unsigned>(wr[cc / 2]) ^ 0x8080u);
    const __half2 wv = conv_fp16_dequant(word, 0x4140u, p, c);
    const float x0 = __half2float(xr[cc]);
    const float x1 = cc + 1 < a.C ? __half2float(xr[cc + 1]) : 0.f;
    acc += x0 * __low2float(wv);
    acc += x1 * __high2float(wv);
  }
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, offset);
  if (lane == 0) conv_fp16_store(a, o, k, acc, y, residual);
}

template <int kGather>
inline cudaError_t conv_fp16_launch(ConvFp16Config c, dim3 grid, const ConvFp16Args& a,
                                    const __half* x, void* y, const __half* residual,
                                    cudaStream_t stream) {
  if (c.tile_m == 16) {
    ECG_LAUNCH(grid, dim3(kConvFp16Threads), 0, stream, conv_fp16_kernel<4, 4, 4, kGather>)
    (a, x, y, residual);
  } else if (c.tile_m == 64) {
    ECG_LAUNCH(grid, dim3(kConvFp16Threads), 0, stream, conv_fp16_kernel<8, 8, 4, kGather>)
    (a, x, y, residual);
  } else {
    ECG_LAUNCH(grid, dim3(kConvFp16Threads), 0, stream, conv_fp16_kernel<16, 8, 4, kGather>)
    (a, x, y, residual);
  }
  return cudaGetLastError();
}

// x: N*H*W*C half; y: N*P*Q*K half, or float when args.out_float; residual:
// N*P*Q*K half when args.residual. No workspace.
inline cudaError_t conv_fp16(const ConvFp16Args& args, const __half* x, void* y,
                             const __half* residual, cudaStream_t stream) {
  if (args.Cp % 4 != 0 || args.Cp < args.C || (args.residual && residual == nullptr))
    return cudaErrorInvalidValue;
  const long long cols = static_cast<long long>(args.N) * args.P * args.Q;
  if (cols <= 0 || args.K <= 0) return cudaSuccess;
  ConvFp16Args a = args;
  const bool pairs = a.C % 2 == 0 && reinterpret_cast<unsigned long long>(x) % 4 == 0;
  prepare_conv_divisors(a);
  if (conv_fp16_is_dense(a)) {
    ECG_LAUNCH(dim3(static_cast<unsigned>((cols * a.K + 7) / 8)), dim3(256), 0, stream,
               conv_fp16_dense_kernel)
    (a, x, y, residual);
    return cudaGetLastError();
  }
  // One iterator step: 256 / tile_n pairs, i.e. twice that many channels, in (r, t, c).
  const ConvFp16Config c = conv_fp16_config(a.K);
  const int sub = 2 * (kConvFp16Threads / c.tile_n), tap = a.S * a.Cp;
  a.step_r = sub / tap;
  a.step_t = sub % tap / a.Cp;
  a.step_c = sub % a.Cp;
  a.step_off = (a.step_r * a.W + a.step_t) * a.C + a.step_c;
  a.wrap_c_off = a.C - a.Cp;
  a.wrap_t_off = (a.W - a.S) * a.C;
  const dim3 grid(static_cast<unsigned>((cols + c.tile_n - 1) / c.tile_n),
                  static_cast<unsigned>((a.K + c.tile_m - 1) / c.tile_m));
  if (!pairs) return conv_fp16_launch<kGatherHalves>(c, grid, a, x, y, residual, stream);
  if (a.C == 16) return conv_fp16_launch<kGatherTwoTaps>(c, grid, a, x, y, residual, stream);
  if (a.C % 32 == 0) return conv_fp16_launch<kGatherOneTap>(c, grid, a, x, y, residual, stream);
  return conv_fp16_launch<kGatherPairs>(c, grid, a, x, y, residual, stream);
}

}  // namespace cuda
}  // namespace ecg
