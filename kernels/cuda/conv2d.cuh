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
// Index decoding divides by run-time extents through FastDivmod (multiply-high
// and shift, prepared per call on the host), not by the hardware-less 32-bit
// division that otherwise dominates the loops on Maxwell.
#pragma once

#include "kernels/cuda/emu/cuda_compat.h"
#include "kernels/cuda/fast_divmod.cuh"
#include "kernels/cuda/igemm.cuh"
#include "kernels/cuda/reduce.cuh"
#include "kernels/kernel_api.h"

#include <cmath>
#include <type_traits>

namespace ecg {
namespace cuda {

// Entries of the forward problem's tap table (int2 each, 2 KiB of shared
// memory): one period lcm(8, R*S) of the reduction index.
constexpr int kConvTapTable = 256;

// Forward: y = relu?(conv(x, w) * scale + bias + residual), each part of the
// epilogue optional (null / 0): the plain forward has scale and residual null
// and relu 0; conv2d_forward_fused folds an inference batch norm into scale
// and bias and a residual block's add and ReLU into the same pass.
//
// The input patch (B) is read in one of two ways:
//  - kTable (R, S <= 16 and lcm(8, R*S) <= kConvTapTable, every common
//    kernel): the reduction index k = (c, r, t) advances by 8 per K step, so
//    the taps of a step repeat with period T = lcm(8, R*S) up to a channel
//    offset. Each block fills a table of T entries {x offset of the tap from
//    the patch origin, tap code (1 << r) | (1 << 16 + t)}; each thread keeps
//    its pixel's valid rows and columns as one mask, so a gathered element is
//    a shared load, an AND, a compare and a predicated global load, with no
//    per-element index stepping or bounds compares (the sm_53 SASS showed
//    those at about 25 instructions per element, a third of the loop);
//  - otherwise the stepping iterator: (r, t) and the x offset advance by
//    adds and compares (t carries into r, r into the next channel).
template <bool kTable>
struct ConvForwardProblem {
  Conv2dShape s;
  const float* x;
  const float* w;
  const float* scale;     // [K] or null
  const float* bias;      // [K] or null
  const float* residual;  // NKPQ like y, or null
  float* y;
  FastDivmod pq_div, q_div, rs_div, s_div;  // by P*Q, Q, R*S, S
  int relu;
  int vec;  // P*Q % 4 == 0 and y, residual 16-byte aligned: float4 stores
  // Iterator form: one b_next (igemm_config(M).b_substep taps) as whole
  // (r, t) steps and the x offset they add.
  int step_r, step_t, step_off;
  // Table form: T entries, and the x offset of T taps (T / (R*S) channels).
  int period;
  long long period_off;

  static constexpr int kTableEntries = kTable ? kConvTapTable : 0;

  struct AIt {  // weights: row m of [K][C*R*S], contiguous in k
    long long idx;
  };
  __device__ AIt a_begin(int m, int k) const {
    return AIt{static_cast<long long>(m) * s.C * s.R * s.S + k};
  }
  __device__ float a_load(const AIt& it) const { return w[it.idx]; }
  __device__ void a_next(AIt& it) const { it.idx += kIgemmTileK; }

  struct StepIt {           // input patch of output pixel n at tap k = (c, r, t)
    long long origin;       // index of x[img, 0, h0, v0] (may lie outside the image)
    int h0, v0, off, r, t;  // off = c*H*W + r*W + t from the origin
  };
  struct TableIt {
    const char* px;   // address of x[img, c0, h0, v0], c0 the current period's channel
    const int2* tab;  // the shared table
    int kp;           // table entry of the thread's element in this step
    unsigned bad;     // ~(valid rows | valid columns << 16) of this pixel
  };
  using BIt = typename std::conditional<kTable, TableIt, StepIt>::type;

  __device__ void pixel(int n, int& img, int& h0, int& v0) const {
    int pq, p, q;
    pq_div.divmod(n, img, pq);
    q_div.divmod(pq, p, q);
    h0 = p * s.stride_h - s.pad_top;
    v0 = q * s.stride_w - s.pad_left;
  }

  // Iterator form.
  __device__ StepIt b_begin(int n, int k) const {
    int img, c, rs;
    StepIt it;
    pixel(n, img, it.h0, it.v0);
    it.origin =
        static_cast<long long>(img) * s.C * s.H * s.W + static_cast<long long>(it.h0) * s.W + it.v0;
    rs_div.divmod(k, c, rs);
    s_div.divmod(rs, it.r, it.t);
    it.off = (c * s.H + it.r) * s.W + it.t;
    return it;
  }
  __device__ float b_load(const StepIt& it) const {
    const int h = it.h0 + it.r, v = it.v0 + it.t;
    if (h < 0 || h >= s.H || v < 0 || v >= s.W) return 0.f;
    return x[it.origin + it.off];
  }
  __device__ void b_next(StepIt& it) const {
    it.t += step_t;
    it.r += step_r;
    it.off += step_off;
    if (it.t >= s.S) {
      it.t -= s.S;
      it.r += 1;
      it.off += s.W - s.S;
    }
    if (it.r >= s.R) {
      it.r -= s.R;
      it.off += (s.H - s.R) * s.W;
    }
  }

  // Table form.
  __device__ void fill_table(int2* t, int tid, int nthreads) const {
    for (int e = tid; e < period; e += nthreads) {
      int c, rs, r, tt;
      rs_div.divmod(e, c, rs);
      s_div.divmod(rs, r, tt);
      // x offset in bytes (one add to the pointer), tap code
      t[e] = make_int2(4 * ((c * s.H + r) * s.W + tt),
                       static_cast<int>((1u << r) | (1u << (16 + tt))));
    }
  }
  // Bits lo..hi-1 set (the taps that land inside [0, extent)).
  __device__ static unsigned tap_mask(int origin, int taps, int extent) {
    const int lo = max(0, -origin), hi = min(taps, extent - origin);
    return hi > lo ? (1u << hi) - (1u << lo) : 0u;
  }
  __device__ TableIt b_begin(int n, int k, const int2* t) const {
    int img, h0, v0;
    pixel(n, img, h0, v0);
    TableIt it;
    it.tab = t;
    it.kp = k;  // the forward never splits K (launched with splits = 1): k < 8 <= period
    it.bad = ~(tap_mask(h0, s.R, s.H) | tap_mask(v0, s.S, s.W) << 16);
    it.px = reinterpret_cast<const char*>(x + (static_cast<long long>(img) * s.C * s.H * s.W +
                                               static_cast<long long>(h0) * s.W + v0));
    return it;
  }
  __device__ float b_load(const TableIt& it, int d, bool in_range) const {
    const int2 e = it.tab[it.kp + d];
    // Non-short-circuit: one predicate, so the load is predicated, not branched around.
    const bool ok = in_range & ((static_cast<unsigned>(e.y) & it.bad) == 0u);
    float v = 0.f;
    if (ok) v = *reinterpret_cast<const float*>(it.px + static_cast<unsigned>(e.x));
    return v;
  }
  __device__ void b_step(TableIt& it) const {
    it.kp += kIgemmTileK;
    if (it.kp >= period) {
      it.kp -= period;
      it.px += 4 * period_off;
    }
  }

  // Epilogue: the row part (channel offset, scale, bias) decoded once per row.
  struct OutRow {
    long long off;
    float scale, bias;
  };
  __device__ OutRow out_row(int m) const {
    return OutRow{static_cast<long long>(m) * s.P * s.Q, scale ? scale[m] : 1.f,
                  bias ? bias[m] : 0.f};
  }
  struct OutCol {
    long long base;  // y index of channel 0 of this output pixel
  };
  __device__ OutCol out_column(int n) const {
    int img, pq;
    pq_div.divmod(n, img, pq);
    return OutCol{static_cast<long long>(img) * s.K * s.P * s.Q + pq};
  }
  __device__ float finish(const OutRow& r, float v, float res) const {
    v = v * r.scale + r.bias + res;            // scale 1, bias 0, res 0 when absent: exact
    return (relu != 0) & (v < 0.f) ? 0.f : v;  // a select, not a branch
  }
  __device__ void store(const OutCol& oc, const OutRow& r, float v, int) const {
    const long long o = oc.base + r.off;
    y[o] = finish(r, v, residual ? residual[o] : 0.f);
  }
  __device__ bool vec4() const { return vec != 0; }
  __device__ void store4(const OutCol& oc, const OutRow& r, float4 v, int) const {
    const long long o = oc.base + r.off;
    const float4 res = residual ? __ldg(reinterpret_cast<const float4*>(residual + o))
                                : make_float4(0.f, 0.f, 0.f, 0.f);
    store_float4(y + o, make_float4(finish(r, v.x, res.x), finish(r, v.y, res.y),
                                    finish(r, v.z, res.z), finish(r, v.w, res.w)));
  }
};

// ---- direct 3x3 forward for at most 16 output channels ----------------------
// With M = K <= 16 the implicit GEMM uses each gathered input element for
// only 16 FMAs, so the gather bounds it near 50 % FFMA (the 16x256 tile's
// sm_53 loop: 251 instructions per 128 FFMA) whatever the tile shape. A 3x3
// stride-1 convolution reuses every input element for 9 taps x K channels:
// a block stages a 34 x 34 input patch of 4 channels (zero in the padding)
// and their weights in shared memory, and each thread computes 4 adjacent
// output columns of one row for all 16 channels from 6 inputs per tap row
// (one 128-bit and one 64-bit shared load) and the weights of a tap (4
// broadcast 128-bit loads): 192 FMAs per 14 shared loads.
constexpr int kDirectTile = 32;                 // output rows and columns per block
constexpr int kDirectIn = kDirectTile + 2;      // staged rows / columns (3x3 halo)
constexpr int kDirectStride = kDirectTile + 4;  // floats per staged row (16-byte rows)
constexpr int kDirectChannels = 4;              // input channels per stage
constexpr int kDirectK = 16;                    // output channels (at most)

struct ConvDirectArgs {
  Conv2dShape s;
  const float* x;
  const float* w;
  const float* scale;     // [K] or null
  const float* bias;      // [K] or null
  const float* residual;  // NKPQ or null
  float* y;
  int relu;
  int vec;  // Q % 4 == 0 and y, residual 16-byte aligned: float4 stores
};

// Block (8, 32): thread (tx, ty) owns output row p0 + ty, columns q0 + 4 tx .. + 3.
__global__ void __launch_bounds__(256) conv_direct3x3_k16_kernel(ConvDirectArgs a) {
  ECG_SHARED(float[kDirectChannels][kDirectIn][kDirectStride], in_s);
  ECG_SHARED(float[kDirectChannels][9][kDirectK], w_s);
  const Conv2dShape& s = a.s;
  const int tx = static_cast<int>(threadIdx.x), ty = static_cast<int>(threadIdx.y);
  const int tid = ty * 8 + tx;
  const int q0 = static_cast<int>(blockIdx.x) * kDirectTile;
  const int p0 = static_cast<int>(blockIdx.y) * kDirectTile;
  const int img = static_cast<int>(blockIdx.z);
  const int h0 = p0 - s.pad_top, v0 = q0 - s.pad_left;
  const long long plane = static_cast<long long>(s.H) * s.W;
  const float* ximg = a.x + static_cast<long long>(img) * s.C * plane;

  // Patch copy: threads below 7 * 34 own column scol, rows srow + 7i.
  const int scol = tid % kDirectIn, srow = tid / kDirectIn;
  const bool stager = tid < 7 * kDirectIn;
  const bool col_ok = stager && static_cast<unsigned>(v0 + scol) < static_cast<unsigned>(s.W);

  float acc[kDirectK][4];
#pragma unroll
  for (int k = 0; k < kDirectK; ++k)
#pragma unroll
    for (int j = 0; j < 4; ++j) acc[k][j] = 0.f;

  for (int c0 = 0; c0 < s.C; c0 += kDirectChannels) {
    __syncthreads();  // the previous chunk's reads are done
                      // Stage the patch of the stage's channels (zero outside the image) and
    // their weights as [c][tap][k] (zero past K), so the FMAs below need no
    // checks. The first 7 x 34 threads copy one patch column each, rows
    // srow + 7i (5 loads), with the column test made once per thread (a flat
    // loop over the patch spent 96 instructions per element on sm_53).
    const int stage = min(kDirectChannels, s.C - c0);  // the stem's 3 channels: 3, not 4
    // Global index and shared slot of (c, srow, scol), stepped per channel.
    long long cidx =
        static_cast<long long>(c0) * plane + static_cast<long long>(h0 + srow) * s.W + (v0 + scol);
    float* dst = &in_s[0][srow][scol];
    const long long rstep = 7LL * s.W;
#pragma unroll 1
    for (int c = 0; c < stage; ++c) {
      long long ridx = cidx;
#pragma unroll
      for (int i = 0; i < (kDirectIn + 6) / 7; ++i) {
        const int row = srow + 7 * i;
        const bool ok = col_ok & (row < kDirectIn) &
                        (static_cast<unsigned>(h0 + row) < static_cast<unsigned>(s.H));
        float val = 0.f;
        if (ok) val = ximg[ridx];
        if (stager && row < kDirectIn) dst[7 * i * kDirectStride] = val;
        ridx += rstep;
      }
      cidx += plane;
      dst += kDirectIn * kDirectStride;
    }
    {
      const int k = tid % kDirectK;  // 16 threads per (channel, tap) row of weights
      const long long wk = (static_cast<long long>(k) * s.C + c0) * 9;
#pragma unroll
      for (int i = 0; i < (kDirectChannels * 9 + 15) / 16; ++i) {
        const int ct = tid / kDirectK + 16 * i;  // channel * 9 + tap within the stage
        if (ct < stage * 9) w_s[ct / 9][ct % 9][k] = k < s.K ? a.w[wk + ct] : 0.f;
      }
    }
    __syncthreads();
    // Channels not unrolled: fully unrolled, nvcc 11.8 hoisted the shared
    // loads of later channels and spilled 27 registers on sm_53.
#pragma unroll 1
    for (int c = 0; c < stage; ++c) {
#pragma unroll
      for (int r = 0; r < 3; ++r) {
        const float4 i4 = *reinterpret_cast<const float4*>(&in_s[c][ty + r][4 * tx]);
        const float2 i2 = *reinterpret_cast<const float2*>(&in_s[c][ty + r][4 * tx + 4]);
        const float in[6] = {i4.x, i4.y, i4.z, i4.w, i2.x, i2.y};
#pragma unroll
        for (int t = 0; t < 3; ++t) {
#pragma unroll
          for (int g = 0; g < kDirectK / 4; ++g) {  // 4 weights, then their 16 FMAs
            const float4 w4 = *reinterpret_cast<const float4*>(&w_s[c][r * 3 + t][4 * g]);
            const float wv[4] = {w4.x, w4.y, w4.z, w4.w};
#pragma unroll
            for (int kk = 0; kk < 4; ++kk)
#pragma unroll
              for (int j = 0; j < 4; ++j) acc[4 * g + kk][j] += wv[kk] * in[t + j];
          }
        }
      }
    }
  }

  // Epilogue: relu?(acc * scale + bias + residual), float4 where the row allows.
  const int p = p0 + ty, q = q0 + 4 * tx;
  if (p >= s.P || q >= s.Q) return;
  const bool vec = a.vec && q + 3 < s.Q;
#pragma unroll
  for (int k = 0; k < kDirectK; ++k) {
    if (k >= s.K) break;
    const float sc = a.scale ? a.scale[k] : 1.f, b = a.bias ? a.bias[k] : 0.f;
    const long long o = ((static_cast<long long>(img) * s.K + k) * s.P + p) * s.Q + q;
    float res[4] = {0.f, 0.f, 0.f, 0.f};
    if (vec) {
      if (a.residual) {
        const float4 r4 = __ldg(reinterpret_cast<const float4*>(a.residual + o));
        res[0] = r4.x, res[1] = r4.y, res[2] = r4.z, res[3] = r4.w;
      }
      float v[4];
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        v[j] = acc[k][j] * sc + b + res[j];
        v[j] = (a.relu != 0) & (v[j] < 0.f) ? 0.f : v[j];
      }
      store_float4(a.y + o, make_float4(v[0], v[1], v[2], v[3]));
    } else {
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        if (q + j >= s.Q) break;
        float v = acc[k][j] * sc + b + (a.residual ? a.residual[o + j] : 0.f);
        a.y[o + j] = (a.relu != 0) & (v < 0.f) ? 0.f : v;
      }
    }
  }
}

// The direct kernel's shapes: 3x3, stride 1, K <= 16 (ResNet-11's stem and
// 16-channel convolutions).
inline bool conv2d_forward_direct(const Conv2dShape& s) {
  return s.K <= kDirectK && s.R == 3 && s.S == 3 && s.stride_h == 1 && s.stride_w == 1;
}

struct ConvBackwardDataProblem {
  Conv2dShape s;
  const float* dy;
  const float* w;
  float* dx;
  FastDivmod hw_div, w_div, rs_div, s_div, sh_div, sw_div;  // by H*W, W, R*S, S, strides
  int b_sub;  // taps per b_next: igemm_config(M).b_substep
  int vec;    // H*W % 4 == 0 and dx 16-byte aligned: float4 stores

  struct Col {
    long long dybase;  // start of the image in dy
    int h, v;          // input pixel, shifted by the top/left padding
  };
  __device__ Col column(int n) const {
    int img, hw, h, v;
    hw_div.divmod(n, img, hw);
    w_div.divmod(hw, h, v);
    Col c;
    c.dybase = static_cast<long long>(img) * s.K * s.P * s.Q;
    c.h = h + s.pad_top;
    c.v = v + s.pad_left;
    return c;
  }
  struct OutCol {
    long long base;  // dx index of channel 0 of this input pixel
  };
  __device__ OutCol out_column(int n) const {
    int img, hw;
    hw_div.divmod(n, img, hw);
    return OutCol{static_cast<long long>(img) * s.C * s.H * s.W + hw};
  }
  struct OutRow {
    long long off;  // channel plane offset
  };
  __device__ OutRow out_row(int m) const { return OutRow{static_cast<long long>(m) * s.H * s.W}; }
  __device__ void store(const OutCol& oc, const OutRow& r, float v, int) const {
    dx[oc.base + r.off] = v;
  }
  __device__ bool vec4() const { return vec != 0; }
  __device__ void store4(const OutCol& oc, const OutRow& r, float4 v, int) const {
    store_float4(dx + oc.base + r.off, v);
  }
  // Iterators: the reduction index k = (out channel, r, t) steps by adds and
  // compares (t carries into r, r into the next output channel).
  struct AIt {
    long long idx;  // w index of (k_out, m, r, t)
    int rs;
  };
  __device__ AIt a_begin(int m, int k) const {
    int ko, rs;
    rs_div.divmod(k, ko, rs);
    return AIt{(static_cast<long long>(ko) * s.C + m) * s.R * s.S + rs, rs};
  }
  __device__ float a_load(const AIt& it) const { return w[it.idx]; }
  __device__ void a_next(AIt& it) const {
    it.rs += kIgemmTileK;
    it.idx += kIgemmTileK;
    while (it.rs >= s.R * s.S) {  // next output channel: skip the other C - 1 planes
      it.rs -= s.R * s.S;
      it.idx += static_cast<long long>(s.C - 1) * s.R * s.S;
    }
  }
  struct BIt {
    long long base;  // dy index of (image, k_out, 0, 0)
    int ph, pv;      // (h + pad_top - r, v + pad_left - t): stride multiples of p, q
    int r, t;
  };
  __device__ BIt b_begin(int n, int k) const {
    const Col col = column(n);
    int ko, rs;
    rs_div.divmod(k, ko, rs);
    BIt it;
    s_div.divmod(rs, it.r, it.t);
    it.base = col.dybase + static_cast<long long>(ko) * s.P * s.Q;
    it.ph = col.h - it.r;
    it.pv = col.v - it.t;
    return it;
  }
  __device__ float b_load(const BIt& it) const {
    if (it.ph < 0 || it.pv < 0) return 0.f;
    int p, q, ph_rem, pv_rem;
    sh_div.divmod(it.ph, p, ph_rem);
    sw_div.divmod(it.pv, q, pv_rem);
    if (ph_rem != 0 || pv_rem != 0 || p >= s.P || q >= s.Q) return 0.f;
    return dy[it.base + p * s.Q + q];
  }
  __device__ void b_next(BIt& it) const {
    it.t += b_sub;
    it.pv -= b_sub;
    while (it.t >= s.S) {
      it.t -= s.S;
      it.pv += s.S;
      it.ph -= 1;
      if (++it.r >= s.R) {  // next output channel
        it.r = 0;
        it.ph += s.R;
        it.base += static_cast<long long>(s.P) * s.Q;
      }
    }
  }
};

struct ConvBackwardWeightsProblem {
  Conv2dShape s;
  const float* x;
  const float* dy;
  float* out;                               // dw, or the split-K workspace [splits][K][C*R*S]
  FastDivmod rs_div, s_div, pq_div, q_div;  // by R*S, S, P*Q, Q
  int b_sub;                                // taps per b_next: igemm_config(M).b_substep
  int vec;                                  // C*R*S % 4 == 0, out 16-byte aligned: float4 stores

  struct Col {
    long long cbase;  // channel plane offset within an image
    int r, t;         // kernel tap
  };
  __device__ Col column(int n) const {
    int c, rs, r, t;
    rs_div.divmod(n, c, rs);
    s_div.divmod(rs, r, t);
    Col col;
    col.cbase = static_cast<long long>(c) * s.H * s.W;
    col.r = r - s.pad_top;
    col.t = t - s.pad_left;
    return col;
  }
  struct OutCol {
    int n;
  };
  __device__ OutCol out_column(int n) const { return OutCol{n}; }
  struct OutRow {
    long long off;  // row offset of (split z = 0, m)
  };
  __device__ OutRow out_row(int m) const {
    return OutRow{static_cast<long long>(m) * s.C * s.R * s.S};
  }
  __device__ float* at(const OutCol& oc, const OutRow& r, int z) const {
    return out + static_cast<long long>(z) * s.K * s.C * s.R * s.S + r.off + oc.n;
  }
  __device__ void store(const OutCol& oc, const OutRow& r, float v, int z) const {
    *at(oc, r, z) = v;
  }
  __device__ bool vec4() const { return vec != 0; }
  __device__ void store4(const OutCol& oc, const OutRow& r, float4 v, int z) const {
    store_float4(at(oc, r, z), v);
  }
  // Iterators: the reduction index k = (image, p, q) steps by adds and
  // compares (q carries into p, p into the next image), as in the forward.
  struct AIt {
    long long idx;  // dy index of (image, m, p, q)
    int pq;
  };
  __device__ AIt a_begin(int m, int k) const {
    int img, pq;
    pq_div.divmod(k, img, pq);
    return AIt{(static_cast<long long>(img) * s.K + m) * s.P * s.Q + pq, pq};
  }
  __device__ float a_load(const AIt& it) const { return dy[it.idx]; }
  __device__ void a_next(AIt& it) const {
    it.pq += kIgemmTileK;
    it.idx += kIgemmTileK;
    while (it.pq >= s.P * s.Q) {  // next image: skip the other K - 1 channels of dy
      it.pq -= s.P * s.Q;
      it.idx += static_cast<long long>(s.K - 1) * s.P * s.Q;
    }
  }
  struct BIt {
    long long off;  // x index of (image, c, h, v); h, v may lie in the padding
    int p, q, h, v;
  };
  __device__ BIt b_begin(int n, int k) const {
    const Col col = column(n);
    int img, pq;
    pq_div.divmod(k, img, pq);
    BIt it;
    q_div.divmod(pq, it.p, it.q);
    it.h = it.p * s.stride_h + col.r;
    it.v = it.q * s.stride_w + col.t;
    it.off = static_cast<long long>(img) * s.C * s.H * s.W + col.cbase +
             static_cast<long long>(it.h) * s.W + it.v;
    return it;
  }
  __device__ float b_load(const BIt& it) const {
    if (it.h < 0 || it.h >= s.H || it.v < 0 || it.v >= s.W) return 0.f;
    return x[it.off];
  }
  __device__ void b_next(BIt& it) const {
    it.q += b_sub;
    it.v += b_sub * s.stride_w;
    it.off += b_sub * s.stride_w;
    while (it.q >= s.Q) {
      it.q -= s.Q;
      it.v -= s.Q * s.stride_w;
      it.off += static_cast<long long>(s.stride_h) * s.W - s.Q * s.stride_w;
      it.h += s.stride_h;
      if (++it.p >= s.P) {  // next image
        it.p = 0;
        it.h -= s.P * s.stride_h;
        it.off += static_cast<long long>(s.C) * s.H * s.W -
                  static_cast<long long>(s.P) * s.stride_h * s.W;
      }
    }
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

inline bool conv2d_aligned16(const void* p) {
  return (reinterpret_cast<unsigned long long>(p) & 15u) == 0;
}

inline int conv2d_gcd(int a, int b) {
  while (b != 0) {
    const int t = a % b;
    a = b;
    b = t;
  }
  return a;
}

// Entries of the forward tap table for this shape (one period lcm(8, R*S)),
// or 0 when the iterator form is used (R or S > 16, or a longer period).
inline int conv2d_forward_table_period(const Conv2dShape& s) {
  const int rs = s.R * s.S;
  if (s.R > 16 || s.S > 16) return 0;
  const int period = kIgemmTileK / conv2d_gcd(kIgemmTileK, rs) * rs;
  // Table entries are byte offsets within period / rs channels: int32.
  const long long span = 4LL * (period / rs) * s.H * s.W;
  return period <= kConvTapTable && span < (1LL << 31) ? period : 0;
}

// The implicit-GEMM forward; kTable: with the tap table of one period
// (period > 0, conv2d_forward_table_period), else the iterator form.
template <bool kTable>
inline cudaError_t conv2d_forward_igemm(const Conv2dShape& s, const float* x, const float* w,
                                        const float* scale, const float* bias,
                                        const float* residual, bool relu, bool vec, int period,
                                        float* y, cudaStream_t stream) {
  const int sub = igemm_config(s.K).b_substep;
  const int rs = s.R * s.S, step_c = sub / rs, step_rs = sub % rs;
  const int step_r = step_rs / s.S, step_t = step_rs % s.S;
  const int M = s.K, Ncol = s.N * s.P * s.Q, Kdim = s.C * s.R * s.S;
  const ConvForwardProblem<kTable> prob{
      s,
      x,
      w,
      scale,
      bias,
      residual,
      y,
      FastDivmod::make(s.P * s.Q),
      FastDivmod::make(s.Q),
      FastDivmod::make(rs),
      FastDivmod::make(s.S),
      relu ? 1 : 0,
      vec ? 1 : 0,
      step_r,
      step_t,
      (step_c * s.H + step_r) * s.W + step_t,
      kTable ? period : 0,
      kTable ? static_cast<long long>(period / rs) * s.H * s.W : 0};
  return igemm_launch(prob, M, Ncol, Kdim, 1, stream);
}

// Both forward forms (plain: scale, residual null, relu false).
inline cudaError_t conv2d_forward_launch(const Conv2dShape& s, const float* x, const float* w,
                                         const float* scale, const float* bias,
                                         const float* residual, bool relu, float* y,
                                         cudaStream_t stream) {
  const int period = conv2d_forward_table_period(s);
  const bool vec = (s.P * s.Q) % 4 == 0 && conv2d_aligned16(y) &&
                   (residual == nullptr || conv2d_aligned16(residual));
  if (conv2d_forward_direct(s)) {
    if (s.N * s.P * s.Q <= 0) return cudaSuccess;
    const ConvDirectArgs a{
        s,
        x,
        w,
        scale,
        bias,
        residual,
        y,
        relu ? 1 : 0,
        s.Q % 4 == 0 && conv2d_aligned16(y) && (residual == nullptr || conv2d_aligned16(residual))
            ? 1
            : 0};
    const dim3 grid((s.Q + kDirectTile - 1) / kDirectTile, (s.P + kDirectTile - 1) / kDirectTile,
                    s.N);
    ECG_LAUNCH(grid, dim3(8, 32), 0, stream, conv_direct3x3_k16_kernel)(a);
    return cudaGetLastError();
  }
  if (period > 0)
    return conv2d_forward_igemm<true>(s, x, w, scale, bias, residual, relu, vec, period, y, stream);
  return conv2d_forward_igemm<false>(s, x, w, scale, bias, residual, relu, vec, period, y, stream);
}

// Inference form with a fused epilogue: y = relu?(conv(x, w) * scale + bias +
// residual), scale / bias per output channel, residual NKPQ; any of them may
// be null. A batch norm in evaluation mode after the convolution folds into
// scale = gamma / sqrt(var + eps), bias = beta + (conv_bias - mean) * scale
// (fold_batch_norm below), and a residual block's add and ReLU into its
// second convolution, so no separate memory-bound pass remains.
inline cudaError_t conv2d_forward_fused(const Conv2dShape& s, const float* x, const float* w,
                                        const float* scale, const float* bias,
                                        const float* residual, bool relu, float* y,
                                        cudaStream_t stream) {
  return conv2d_forward_launch(s, x, w, scale, bias, residual, relu, y, stream);
}

inline cudaError_t conv2d_forward(const Conv2dShape& s, const float* x, const float* w,
                                  const float* bias, float* y, cudaStream_t stream) {
  return conv2d_forward_launch(s, x, w, nullptr, bias, nullptr, false, y, stream);
}

// Host: folds an evaluation-mode batch norm into the preceding convolution's
// epilogue (arrays of K; conv_bias may be null). Computed in double, rounded once.
inline void fold_batch_norm(int K, const float* conv_bias, const float* gamma, const float* beta,
                            const float* mean, const float* var, float eps, float* scale,
                            float* bias) {
  for (int k = 0; k < K; ++k) {
    const double sc = static_cast<double>(gamma[k]) / std::sqrt(static_cast<double>(var[k]) + eps);
    scale[k] = static_cast<float>(sc);
    bias[k] = static_cast<float>(beta[k] + ((conv_bias ? conv_bias[k] : 0.0) - mean[k]) * sc);
  }
}

inline cudaError_t conv2d_backward_data(const Conv2dShape& s, const float* dy, const float* w,
                                        float* dx, cudaStream_t stream) {
  ConvBackwardDataProblem prob{s,
                               dy,
                               w,
                               dx,
                               FastDivmod::make(s.H * s.W),
                               FastDivmod::make(s.W),
                               FastDivmod::make(s.R * s.S),
                               FastDivmod::make(s.S),
                               FastDivmod::make(s.stride_h),
                               FastDivmod::make(s.stride_w),
                               igemm_config(s.C).b_substep,
                               (s.H * s.W) % 4 == 0 && conv2d_aligned16(dx) ? 1 : 0};
  return igemm_launch(prob, s.C, s.N * s.H * s.W, s.K * s.R * s.S, 1, stream);
}

// K splits of the backward-weights reduction: enough blocks to fill a GPU
// (about 64) when the dw tiles alone are few, each split at least 32 K steps
// (256 products per output) so the partial sums stay worth their traffic.
inline int conv2d_backward_weights_splits(const Conv2dShape& s) {
  const int tile_m = igemm_config(s.K).tile_m, tile_n = igemm_config(s.K).tile_n;
  const int tiles = ((s.K + tile_m - 1) / tile_m) * ((s.C * s.R * s.S + tile_n - 1) / tile_n);
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
  ConvBackwardWeightsProblem prob{
      s,
      x,
      dy,
      splits > 1 ? workspace : dw,
      FastDivmod::make(s.R * s.S),
      FastDivmod::make(s.S),
      FastDivmod::make(s.P * s.Q),
      FastDivmod::make(s.Q),
      igemm_config(s.K).b_substep,
      (s.C * s.R * s.S) % 4 == 0 && conv2d_aligned16(splits > 1 ? workspace : dw) ? 1 : 0};
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
