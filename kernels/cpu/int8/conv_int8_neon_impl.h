// AArch64 int8 convolution micro-kernel for the shared blocked driver
// (conv_int8_driver.h), included by two ISA units that differ only in the
// 16-byte multiply-accumulate step:
//   conv_int8_neon.cpp      ARMv8.0 (Cortex-A57): SMULL + SMLAL2 into int16,
//                           then SADALP into int32 (the default)
//   conv_int8_neon_dot.cpp  ARMv8.2 dot product: SDOT (ECG_NEON_MAC16_SDOT)
//
// Both see int8 activations unshifted (kActShift 0; SMULL and SDOT are
// signed x signed) and G = 16 input channels per step: one q register holds
// 16 channels of one pixel, and one q register the same 16 inputs of one
// output channel. An accumulator (int32x4) belongs to one (pixel, output
// channel) pair and holds four partial sums of its dot product, reduced with
// ADDP after the last tap.
//
// Exactness of the ARMv8.0 step: a weight is in [-127, 127] (never -128, the
// int8 API's contract) and an activation in [-128, 127], so one int16 lane
// holds x[i]*w[i] + x[i+8]*w[i+8] with |.| <= 2 * 128 * 127 = 32,512 < 2^15.
// SADALP then widens the pairs into int32, which wraps modulo 2^32 as the
// spec allows.
//
// Register tile: 4 pixels x 4 output channels = 16 accumulators, 4 activation
// and 4 weight vectors, leaving 8 of the 32 registers for the int16
// products. Per 16-channel step it issues 32 multiplies (16 SMULL + 16
// SMLAL2, 8 MAC each) for 8 loads: the A57's one multiply pipe at one per
// cycle gives 8 MAC/cycle, twice FP32 FMLA. The 16 output channels of a
// driver block run as four such sub-tiles; the activations are re-read from
// L1 for each (the band row is a few KB).
//
// Epilogue: the int8 API's integer rule in NEON, lane for lane equal to
// int8::requantize: 32x32 -> 64-bit SMULL, + 2^(t-1), arithmetic shift right
// by t (SSHL by -t floors), saturating narrow to int32 (any result outside
// int32 clamps to qmin/qmax either way), + zp_out, clamp.
#pragma once
#include <arm_neon.h>

#include <cstring>

#include "kernels/cpu/int8/conv_int8_driver.h"

namespace ecg::int8::detail {
namespace ECG_NEON_INT8_NS {

using Args = TileArgs<int8_t, int8_t>;

// The SDOT unit builds at the baseline flags like everything else and turns
// on the dot product only for the two functions that issue it. Building the
// whole unit with -march=armv8.2-a would also let GCC use ARMv8.1 LSE atomics
// (LDADDAL) in inline library code there, and the linker may keep that copy
// of a shared inline function for the whole program: SIGILL on a Cortex-A57.
#if defined(ECG_NEON_MAC16_SDOT)
#define ECG_NEON_KERNEL_TARGET __attribute__((target("arch=armv8.2-a+dotprod")))
#else
#define ECG_NEON_KERNEL_TARGET
#endif

ECG_NEON_KERNEL_TARGET inline int32x4_t mac16(int32x4_t acc, int8x16_t x, int8x16_t w) {
#if defined(ECG_NEON_MAC16_SDOT)
  return vdotq_s32(acc, x, w);
#else
  int16x8_t p = vmull_s8(vget_low_s8(x), vget_low_s8(w));
  p = vmlal_high_s8(p, x, w);
  return vpadalq_s16(acc, p);
#endif
}

// The requantization constants of 4 channels [j, j+4), read once per
// sub-tile and kept in registers for its pixels: the int8 stores between
// pixels may alias anything (char aliasing), so constants read through a
// pointer inside the pixel loop would be reloaded for every pixel.
struct Requant4 {
  int64x2_t sh_lo, sh_hi;  // -t of channels (j, j+1) and (j+2, j+3)
  int64x2_t rn_lo, rn_hi;  // 2^(t-1), same lanes
  int32x4_t m0, zp_out, qmin, qmax;
};

inline Requant4 load_requant4(const Epilogue& e, int j, const ConvInt8Params& p) {
  const int h = j / 2;  // j is a multiple of 4: channels j, j+1 are half h
  const int64x2_t sh_e = vld1q_s64(e.sh_e + h), sh_o = vld1q_s64(e.sh_o + h);
  const int64x2_t rn_e = vld1q_s64(e.rnd_e + h), rn_o = vld1q_s64(e.rnd_o + h);
  Requant4 r;
  r.sh_lo = vnegq_s64(vzip1q_s64(sh_e, sh_o));
  r.sh_hi = vnegq_s64(vzip2q_s64(sh_e, sh_o));
  r.rn_lo = vzip1q_s64(rn_e, rn_o);
  r.rn_hi = vzip2q_s64(rn_e, rn_o);
  r.m0 = vld1q_s32(e.m0 + j);
  r.zp_out = vdupq_n_s32(p.zp_out);
  r.qmin = vdupq_n_s32(p.qmin);
  r.qmax = vdupq_n_s32(p.qmax);
  return r;
}

// Requantizes 4 channels of one pixel (acc already holds the bias).
inline int32x4_t requant4(int32x4_t acc, const Requant4& r) {
  int64x2_t lo = vmull_s32(vget_low_s32(acc), vget_low_s32(r.m0));
  int64x2_t hi = vmull_high_s32(acc, r.m0);
  lo = vshlq_s64(vaddq_s64(lo, r.rn_lo), r.sh_lo);
  hi = vshlq_s64(vaddq_s64(hi, r.rn_hi), r.sh_hi);
  int32x4_t v = vcombine_s32(vqmovn_s64(lo), vqmovn_s64(hi));
  v = vqaddq_s32(v, r.zp_out);
  v = vmaxq_s32(v, r.qmin);
  return vminq_s32(v, r.qmax);
}

// The residual add's constants, likewise hoisted out of the pixel loop.
struct Add4 {
  int32x4_t mul_a, zp_a, mul_b, zp_b, rnd, neg_shift, zp_out, qmin, qmax;
};

inline Add4 load_add4(const AddRequant& q) {
  Add4 c;
  c.mul_a = vdupq_n_s32(q.mul_a);
  c.zp_a = vdupq_n_s32(q.zp_a);
  c.mul_b = vdupq_n_s32(q.mul_b);
  c.zp_b = vdupq_n_s32(q.zp_b);
  c.rnd = vdupq_n_s32(1 << (q.shift - 1));
  c.neg_shift = vdupq_n_s32(-q.shift);
  c.zp_out = vdupq_n_s32(q.zp_out);
  c.qmin = vdupq_n_s32(q.qmin);
  c.qmax = vdupq_n_s32(q.qmax);
  return c;
}

// The fused residual add on 4 lanes (a = the conv's clamped int8 output;
// res holds n <= 4 real bytes and is never read beyond them).
inline int32x4_t add4(int32x4_t a, const int8_t* res, int n, const Add4& c) {
  int32_t raw = 0;
  std::memcpy(&raw, res, n);
  const int16x8_t r16 = vmovl_s8(vreinterpret_s8_s32(vdup_n_s32(raw)));
  const int32x4_t b = vmovl_s16(vget_low_s16(r16));
  int32x4_t s = vmulq_s32(c.mul_a, vsubq_s32(a, c.zp_a));
  s = vmlaq_s32(s, c.mul_b, vsubq_s32(b, c.zp_b));
  s = vaddq_s32(s, c.rnd);
  const int32x4_t v = vaddq_s32(c.zp_out, vshlq_s32(s, c.neg_shift));
  return vminq_s32(vmaxq_s32(v, c.qmin), c.qmax);
}

// Stores the first n (<= 4) lanes as int8. The values are inside
// [-128, 127] already (clamped): plain narrowing.
inline void store_int8x4(int8_t* dst, int32x4_t v, int n) {
  const int8x8_t b = vmovn_s16(vcombine_s16(vmovn_s32(v), vmovn_s32(v)));
  int8_t t[8];
  vst1_s8(t, b);
  std::memcpy(dst, t, n);
}

// Writes channels [j, j+n), n <= 4, of m pixels; r[i] holds pixel i's sums
// with the bias included.
inline void store_pixels(const Args& a, const ConvInt8Params& p, const int32x4_t* r, int m, int j,
                         int n) {
  if (p.output == OutputMode::Int32) {
    for (int i = 0; i < m; ++i) {
      int32_t t[4];
      vst1q_s32(t, r[i]);
      std::memcpy(static_cast<int32_t*>(a.out) + i * a.out_stride + j, t, sizeof(int32_t) * n);
    }
    return;
  }
  const Requant4 rq = load_requant4(*a.ep, j, p);
  int8_t* out = static_cast<int8_t*>(a.out) + j;
  if (a.res) {
    const Add4 ad = load_add4(p.add);
    const int8_t* res = a.res + j;
    for (int i = 0; i < m; ++i)
      store_int8x4(out + i * a.out_stride, add4(requant4(r[i], rq), res + i * a.out_stride, n, ad),
                   n);
  } else {
    for (int i = 0; i < m; ++i) store_int8x4(out + i * a.out_stride, requant4(r[i], rq), n);
  }
}

// One 4-pixel x 16-channel tile. Edge tiles (m < 4 pixels left in the row)
// point the missing pixels at the last real one and store only m: one
// register-resident body instead of four. The accumulators are named, not
// an array, so that GCC 7 (no `#pragma GCC unroll`, the Nano's compiler) and
// -O2 keep all 16 in registers.
ECG_NEON_KERNEL_TARGET inline void tile(int m, const Args& a, const ConvInt8Params& p) {
  const int groups = a.groups;
  const int64_t ps = a.pix_stride;
  const int64_t o1 = (m > 1 ? 1 : 0) * ps, o2 = (m > 2 ? 2 : m - 1) * ps,
                o3 = (m > 3 ? 3 : m - 1) * ps;
  const int valid = a.kvalid < 16 ? a.kvalid : 16;
  for (int jb = 0; jb < valid; jb += 4) {
    int32x4_t c00 = vdupq_n_s32(0), c01 = c00, c02 = c00, c03 = c00, c10 = c00, c11 = c00,
              c12 = c00, c13 = c00, c20 = c00, c21 = c00, c22 = c00, c23 = c00, c30 = c00,
              c31 = c00, c32 = c00, c33 = c00;
    for (int tap = 0; tap < a.taps; ++tap) {
      const int8_t* s = a.src + a.tap_off[tap];
      const int8_t* w = a.w + static_cast<int64_t>(tap) * groups * 256 + jb * 16;
      for (int g = 0; g < groups; ++g, s += 16, w += 256) {
        const int8x16_t w0 = vld1q_s8(w), w1 = vld1q_s8(w + 16), w2 = vld1q_s8(w + 32),
                        w3 = vld1q_s8(w + 48);
        const int8x16_t x0 = vld1q_s8(s), x1 = vld1q_s8(s + o1), x2 = vld1q_s8(s + o2),
                        x3 = vld1q_s8(s + o3);
        c00 = mac16(c00, x0, w0);
        c01 = mac16(c01, x0, w1);
        c02 = mac16(c02, x0, w2);
        c03 = mac16(c03, x0, w3);
        c10 = mac16(c10, x1, w0);
        c11 = mac16(c11, x1, w1);
        c12 = mac16(c12, x1, w2);
        c13 = mac16(c13, x1, w3);
        c20 = mac16(c20, x2, w0);
        c21 = mac16(c21, x2, w1);
        c22 = mac16(c22, x2, w2);
        c23 = mac16(c23, x2, w3);
        c30 = mac16(c30, x3, w0);
        c31 = mac16(c31, x3, w1);
        c32 = mac16(c32, x3, w2);
        c33 = mac16(c33, x3, w3);
      }
    }
    const int32x4_t bias = vld1q_s32(a.ep->bias + jb);
    const int n = valid - jb < 4 ? valid - jb : 4;
    // ADDP twice turns four (pixel, channel) partial-sum vectors into the
    // pixel's 4 channel sums.
    const int32x4_t r[4] = {
        vaddq_s32(bias, vpaddq_s32(vpaddq_s32(c00, c01), vpaddq_s32(c02, c03))),
        vaddq_s32(bias, vpaddq_s32(vpaddq_s32(c10, c11), vpaddq_s32(c12, c13))),
        vaddq_s32(bias, vpaddq_s32(vpaddq_s32(c20, c21), vpaddq_s32(c22, c23))),
        vaddq_s32(bias, vpaddq_s32(vpaddq_s32(c30, c31), vpaddq_s32(c32, c33)))};
    store_pixels(a, p, r, m, jb, n);
  }
}

// Test hook (int8_internal.h): the epilogue above on flat arrays, in blocks
// of 16 channels laid out as the convolution's Epilogue holds them, so the
// requantization test drives the same store_pixels the tiles run.
inline void epilogue_hook(int n, const int32_t* acc, const Requant* rq, int32_t zp_out,
                          int32_t qmin, int32_t qmax, const int8_t* res, const AddRequant& add,
                          int8_t* out) {
  for_each_epilogue_block(n, rq, zp_out, qmin, qmax, res != nullptr, add,
                          [&](int i, int nb, const Epilogue& e, const ConvInt8Params& p) {
                            Args a{};
                            a.ep = &e;
                            a.out = out + i;
                            a.res = res ? res + i : nullptr;
                            for (int j = 0; j < nb; j += 4) {
                              const int valid = nb - j < 4 ? nb - j : 4;
                              int32_t a4[4] = {};
                              std::memcpy(a4, acc + i + j, sizeof(int32_t) * valid);
                              const int32x4_t v = vld1q_s32(a4);
                              store_pixels(a, p, &v, 1, j, valid);
                            }
                          });
}

template <Int8Kernel K>
struct NeonTraits {
  using Band = int8_t;
  using Weight = int8_t;
  static constexpr int kGroup = 16;
  static constexpr int kMR = 4;
  static constexpr int kBlocks = 1;
  static constexpr int kActShift = 0;
  static constexpr Int8Kernel kKernel = K;

  static int8_t convert(int8_t x) { return x; }
  static void convert_run(const int8_t* src, int8_t* dst, int64_t n) { std::memcpy(dst, src, n); }
  static void dispatch(int m, bool, const Args& a, const ConvInt8Params& p) { tile(m, a, p); }
};

}  // namespace ECG_NEON_INT8_NS
}  // namespace ecg::int8::detail

#undef ECG_NEON_KERNEL_TARGET
