// AVX-512 VNNI int8 convolution: the micro-kernel and epilogue for the shared
// driver (conv_int8_driver.h). Compiled with -mavx512f/bw/vl/dq -mavx512vnni;
// called only when cpu_features() reports them.
//
// vpdpbusd multiplies unsigned bytes by signed bytes, so the band holds the
// activations shifted to unsigned (x + 128, i.e. x ^ 0x80) and the pack step
// folds -128 * sum(w) into the bias. Weights stay signed in [-127, 127].
// Micro-kernel: 14 output pixels x 32 output channels = 28 zmm accumulators;
// per group of 4 input channels: 2 weight loads, 14 broadcasts, 28 vpdpbusd.
// vpdpbusd (not the saturating vpdpbusds) wraps modulo 2^32 like the spec.
#include <immintrin.h>

#include "kernels/cpu/int8/conv_int8_driver.h"

// GCC 12 warns inside its own avx512fintrin.h (the `__Y = __Y` placeholder of
// _mm512_undefined_epi32, GCC bug 105593); the values are never read.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

namespace ecg::int8::detail {
namespace {

// Requantize 16 accumulators (bias included) of one block to int32 values
// clamped to [qmin, qmax]. Same arithmetic as int8::requantize: 64-bit
// products, +2^(t-1), arithmetic shift by t.
inline __m512i requant16(__m512i acc, const Epilogue& e, bool fast, __m512i zp, __m512i lo,
                         __m512i hi) {
  const __m512i m0 = _mm512_load_si512(e.m0);
  __m512i pe = _mm512_mul_epi32(acc, m0);
  __m512i po = _mm512_mul_epi32(_mm512_srli_epi64(acc, 32), _mm512_load_si512(e.m0_odd));
  pe = _mm512_srav_epi64(_mm512_add_epi64(pe, _mm512_load_si512(e.rnd_e)),
                         _mm512_load_si512(e.sh_e));
  po = _mm512_add_epi64(po, _mm512_load_si512(e.rnd_o));
  __m512i r;
  if (fast) {
    // Odd results straight into the high dwords; both fit int32 (< 2^30).
    po = _mm512_srav_epi64(po, _mm512_load_si512(e.sh_o_hi));
    r = _mm512_mask_blend_epi32(0xAAAA, pe, po);
  } else {
    po = _mm512_srav_epi64(po, _mm512_load_si512(e.sh_o));
    // With t < 32 the shifted value can exceed int32; anything beyond +-1024
    // saturates int8 after the zero point anyway, so clamp before narrowing.
    const __m512i lim = _mm512_set1_epi64(1024), nlim = _mm512_set1_epi64(-1024);
    pe = _mm512_min_epi64(_mm512_max_epi64(pe, nlim), lim);
    po = _mm512_min_epi64(_mm512_max_epi64(po, nlim), lim);
    r = _mm512_mask_blend_epi32(0xAAAA, pe, _mm512_slli_epi64(po, 32));
  }
  r = _mm512_add_epi32(r, zp);
  return _mm512_min_epi32(_mm512_max_epi32(r, lo), hi);
}

// The zero points fold into one constant: A*(a - zp_a) + B*(b - zp_b) + 2^(t-1)
// = A*a + B*b + (2^(t-1) - A*zp_a - B*zp_b); every partial sum stays inside
// int32 (|A*a|, |B*b| < 2^28, the constant < 2^31 - 2^29).
struct AddConsts {
  __m512i ma, mb, rnd, zpo, lo, hi;
  __m128i sh;
  explicit AddConsts(const AddRequant& p)
      : ma(_mm512_set1_epi32(p.mul_a)),
        mb(_mm512_set1_epi32(p.mul_b)),
        rnd(_mm512_set1_epi32((1 << (p.shift - 1)) - p.mul_a * p.zp_a - p.mul_b * p.zp_b)),
        zpo(_mm512_set1_epi32(p.zp_out)),
        lo(_mm512_set1_epi32(p.qmin)),
        hi(_mm512_set1_epi32(p.qmax)),
        sh(_mm_cvtsi32_si128(p.shift)) {}
};

// int8::add_requantize on 16 lanes; int32 arithmetic cannot overflow (see AddRequant).
inline __m512i add16(__m512i a, __m512i b, const AddConsts& c) {
  __m512i s = _mm512_mullo_epi32(a, c.ma);
  s = _mm512_add_epi32(s, _mm512_mullo_epi32(b, c.mb));
  s = _mm512_sra_epi32(_mm512_add_epi32(s, c.rnd), c.sh);
  s = _mm512_add_epi32(s, c.zpo);
  return _mm512_min_epi32(_mm512_max_epi32(s, c.lo), c.hi);
}

inline __mmask16 lane_mask(int valid) {
  return valid >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << valid) - 1);
}

// Epilogue constants loaded once per tile: stores through the int8 output
// may alias ConvInt8Params as far as the compiler knows, so reading p inside
// the per-vector loop would reload and re-broadcast them every time.
struct EpiCtx {
  __m512i zp, lo, hi;
  AddConsts add;
  bool out32;
  explicit EpiCtx(const ConvInt8Params& p)
      : zp(_mm512_set1_epi32(p.zp_out)),
        lo(_mm512_set1_epi32(p.qmin)),
        hi(_mm512_set1_epi32(p.qmax)),
        add(p.add),
        out32(p.output == OutputMode::Int32) {}
};

// Epilogue of one 16-channel vector (bias already in acc): write int32 or
// requantized int8 (then the residual add when res is not null).
inline void store_block(__m512i acc, const Epilogue& e, bool fast, __mmask16 m, void* out,
                        int64_t off, const int8_t* res, const EpiCtx& c) {
  if (c.out32) {
    _mm512_mask_storeu_epi32(static_cast<int32_t*>(out) + off, m, acc);
    return;
  }
  __m512i r = requant16(acc, e, fast, c.zp, c.lo, c.hi);
  if (res) r = add16(r, _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, res + off)), c.add);
  _mm512_mask_cvtepi32_storeu_epi8(static_cast<int8_t*>(out) + off, m, r);
}

using Args = TileArgs<uint8_t, int8_t>;

// NV 16-channel blocks (1 or 2) of M pixels.
template <int NV>
struct ZmmTile {
  template <int M>
  static void run(const Args& a, const ConvInt8Params& p);
};

template <int NV>
template <int M>
void ZmmTile<NV>::run(const Args& a, const ConvInt8Params& p) {
  __m512i acc[M][NV];
  // Accumulators start at the folded bias: one add less in the epilogue.
  for (int v = 0; v < NV; ++v) {
    const __m512i b = _mm512_load_si512(a.ep[v].bias);
    for (int i = 0; i < M; ++i) acc[i][v] = b;
  }
  const int64_t ps = a.pix_stride;
  for (int tap = 0; tap < a.taps; ++tap) {
    const uint8_t* s = a.src + a.tap_off[tap];
    const int8_t* w = a.w + static_cast<int64_t>(tap) * a.groups * 64;
    for (int g = 0; g < a.groups; ++g, s += 4, w += 64) {
      __m512i wv[NV];
      for (int v = 0; v < NV; ++v) wv[v] = _mm512_load_si512(w + v * a.w_block);
#pragma GCC unroll 16
      for (int i = 0; i < M; ++i) {
        int32_t x4;
        std::memcpy(&x4, s + i * ps, 4);
        const __m512i b = _mm512_set1_epi32(x4);
        for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_dpbusd_epi32(acc[i][v], b, wv[v]);
      }
    }
  }
  const EpiCtx c(p);
  void* const out = a.out;
  const int8_t* const res = a.res;
  const int64_t os = a.out_stride;
  const int kvalid = a.kvalid;
  for (int v = 0; v < NV; ++v) {
    const int valid = kvalid - 16 * v;
    if (valid <= 0) break;
    const Epilogue& e = a.ep[v];
    const bool fast = e.all_t_ge_32 != 0;
    const __mmask16 m = lane_mask(valid);
#pragma GCC unroll 16
    for (int i = 0; i < M; ++i) store_block(acc[i][v], e, fast, m, out, i * os + 16 * v, res, c);
  }
}

struct Avx512VnniTraits {
  using Band = uint8_t;
  using Weight = int8_t;
  static constexpr int kGroup = 4;
  static constexpr int kMR = 14;
  static constexpr int kBlocks = 2;
  static constexpr int kActShift = 128;
  static constexpr Int8Kernel kKernel = Int8Kernel::Avx512Vnni;

  static uint8_t convert(int8_t x) { return static_cast<uint8_t>(x) ^ 0x80u; }
  static void convert_run(const int8_t* src, uint8_t* dst, int64_t n) {
    const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
    int64_t i = 0;
    for (; i + 64 <= n; i += 64)
      _mm512_storeu_si512(dst + i, _mm512_xor_si512(_mm512_loadu_si512(src + i), flip));
    if (i < n) {
      const __mmask64 m = (~0ULL) >> (64 - (n - i));
      _mm512_mask_storeu_epi8(dst + i, m,
                              _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, src + i), flip));
    }
  }
  static void dispatch(int m, bool two, const Args& a, const ConvInt8Params& p) {
    static constexpr auto t1 = tile_table<ZmmTile<1>, Args>(std::make_index_sequence<kMR>{});
    static constexpr auto t2 = tile_table<ZmmTile<2>, Args>(std::make_index_sequence<kMR>{});
    (two ? t2 : t1)[m - 1](a, p);
  }
};

}  // namespace

std::unique_ptr<PackedConvInt8> pack_conv_int8_avx512vnni(const ConvInt8Params& p,
                                                          const int8_t* w) {
  return std::make_unique<PackedConvSimd<Avx512VnniTraits>>(p, w);
}

void epilogue_hook_avx512(int n, const int32_t* acc, const Requant* rq, int32_t zp_out,
                          int32_t qmin, int32_t qmax, const int8_t* res, const AddRequant& add,
                          int8_t* out) {
  for_each_epilogue_block(n, rq, zp_out, qmin, qmax, res != nullptr, add,
                          [&](int i, int nb, const Epilogue& e, const ConvInt8Params& p) {
                            const __m512i a =
                                _mm512_add_epi32(_mm512_maskz_loadu_epi32(lane_mask(nb), acc + i),
                                                 _mm512_load_si512(e.bias));
                            store_block(a, e, e.all_t_ge_32 != 0, lane_mask(nb), out + i, 0,
                                        res ? res + i : nullptr, EpiCtx(p));
                          });
}

}  // namespace ecg::int8::detail
