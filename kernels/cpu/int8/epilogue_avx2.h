// The AVX2 (ymm) epilogue shared by the AVX2 and AVX-VNNI units: include only
// from translation units compiled with -mavx2. Same integer rule as
// int8::requantize, 8 channels at a time (half h of a 16-channel block).
//
// AVX2 lacks a 64-bit arithmetic shift and 64-bit min/max, so
//   floor(v / 2^t) = ((v + 2^63) >>logical t) - 2^(63-t)    (exact for t <= 62)
// and the clamp uses vpcmpgtq + blend.
#pragma once
#include <immintrin.h>

#include <cstring>

#include "kernels/cpu/int8/int8_internal.h"

namespace ecg::int8::detail {
namespace avx2 {

inline __m256i clamp64(__m256i v) {
  const __m256i lim = _mm256_set1_epi64x(1024), nlim = _mm256_set1_epi64x(-1024);
  v = _mm256_blendv_epi8(v, lim, _mm256_cmpgt_epi64(v, lim));
  return _mm256_blendv_epi8(v, nlim, _mm256_cmpgt_epi64(nlim, v));
}

inline __m256i floor_shift(__m256i v, const int64_t* rnd, const int64_t* sh, const int64_t* off) {
  const __m256i sign = _mm256_set1_epi64x(INT64_MIN);
  v = _mm256_add_epi64(v, _mm256_load_si256(reinterpret_cast<const __m256i*>(rnd)));
  v = _mm256_srlv_epi64(_mm256_xor_si256(v, sign),
                        _mm256_load_si256(reinterpret_cast<const __m256i*>(sh)));
  return _mm256_sub_epi64(v, _mm256_load_si256(reinterpret_cast<const __m256i*>(off)));
}

// acc without bias -> requantized int32 lanes clamped to [qmin, qmax].
inline __m256i requant8(__m256i acc, const Epilogue& e, int h, __m256i zp, __m256i lo, __m256i hi) {
  acc = _mm256_add_epi32(acc, _mm256_load_si256(reinterpret_cast<const __m256i*>(e.bias + 8 * h)));
  const __m256i m0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(e.m0 + 8 * h));
  __m256i pe = _mm256_mul_epi32(acc, m0);
  __m256i po = _mm256_mul_epi32(_mm256_srli_epi64(acc, 32), _mm256_srli_epi64(m0, 32));
  pe = clamp64(floor_shift(pe, e.rnd_e + 4 * h, e.sh_e + 4 * h, e.off_e + 4 * h));
  po = clamp64(floor_shift(po, e.rnd_o + 4 * h, e.sh_o + 4 * h, e.off_o + 4 * h));
  __m256i r = _mm256_blend_epi32(pe, _mm256_slli_epi64(po, 32), 0xAA);
  r = _mm256_add_epi32(r, zp);
  return _mm256_min_epi32(_mm256_max_epi32(r, lo), hi);
}

// Epilogue constants broadcast once per tile: stores through the output may
// alias ConvInt8Params as far as the compiler knows, so reading p per vector
// would reload and re-broadcast them each time. The residual's zero points
// fold into one constant: A*(a - zp_a) + B*(b - zp_b) + 2^(t-1)
// = A*a + B*b + (2^(t-1) - A*zp_a - B*zp_b), every partial sum inside int32.
struct Ctx8 {
  __m256i zp, lo, hi;
  __m256i ma, mb, rnd, zpo, alo, ahi;
  __m128i sh;
  bool out32;
  explicit Ctx8(const ConvInt8Params& p)
      : zp(_mm256_set1_epi32(p.zp_out)),
        lo(_mm256_set1_epi32(p.qmin)),
        hi(_mm256_set1_epi32(p.qmax)),
        ma(_mm256_set1_epi32(p.add.mul_a)),
        mb(_mm256_set1_epi32(p.add.mul_b)),
        rnd(_mm256_set1_epi32((1 << (p.add.shift - 1)) - p.add.mul_a * p.add.zp_a -
                              p.add.mul_b * p.add.zp_b)),
        zpo(_mm256_set1_epi32(p.add.zp_out)),
        alo(_mm256_set1_epi32(p.add.qmin)),
        ahi(_mm256_set1_epi32(p.add.qmax)),
        sh(_mm_cvtsi32_si128(p.add.shift)),
        out32(p.output == OutputMode::Int32) {}
};

inline __m256i add8(__m256i a, __m256i b, const Ctx8& c) {
  __m256i s = _mm256_mullo_epi32(a, c.ma);
  s = _mm256_add_epi32(s, _mm256_mullo_epi32(b, c.mb));
  s = _mm256_sra_epi32(_mm256_add_epi32(s, c.rnd), c.sh);
  s = _mm256_add_epi32(s, c.zpo);
  return _mm256_min_epi32(_mm256_max_epi32(s, c.alo), c.ahi);
}

// Eight int32 lanes already inside [-128, 127] to eight bytes.
inline __m128i narrow8(__m256i r) {
  const __m256i w = _mm256_packs_epi32(r, r);  // per 128-bit lane: r0..r3 r0..r3
  const __m256i b = _mm256_packs_epi16(w, w);  // low 4 bytes of each lane
  return _mm_unpacklo_epi32(_mm256_castsi256_si128(b), _mm256_extracti128_si256(b, 1));
}

inline __m256i load8_i8(const int8_t* p, int valid) {
  if (valid >= 8) return _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
  int8_t tmp[8] = {};
  std::memcpy(tmp, p, valid);
  return _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(tmp)));
}

// Epilogue of 8 accumulators (channels 8h.. of block e): int32 or int8 out.
inline void store8(__m256i acc, const Epilogue& e, int h, int valid, void* out, int64_t off,
                   const int8_t* res, const Ctx8& c) {
  if (c.out32) {
    const __m256i v =
        _mm256_add_epi32(acc, _mm256_load_si256(reinterpret_cast<const __m256i*>(e.bias + 8 * h)));
    int32_t* dst = static_cast<int32_t*>(out) + off;
    if (valid >= 8) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), v);
    } else {
      alignas(32) int32_t tmp[8];
      _mm256_store_si256(reinterpret_cast<__m256i*>(tmp), v);
      std::memcpy(dst, tmp, valid * sizeof(int32_t));
    }
    return;
  }
  __m256i r = requant8(acc, e, h, c.zp, c.lo, c.hi);
  if (res) r = add8(r, load8_i8(res + off, valid), c);
  const __m128i bytes = narrow8(r);
  int8_t* dst = static_cast<int8_t*>(out) + off;
  if (valid >= 8) {
    _mm_storel_epi64(reinterpret_cast<__m128i*>(dst), bytes);
  } else {
    int8_t tmp[16];
    _mm_storeu_si128(reinterpret_cast<__m128i*>(tmp), bytes);
    std::memcpy(dst, tmp, valid);
  }
}

inline void epilogue_hook(int n, const int32_t* acc, const Requant* rq, int32_t zp_out,
                          int32_t qmin, int32_t qmax, const int8_t* res, const AddRequant& add,
                          int8_t* out) {
  for_each_epilogue_block(
      n, rq, zp_out, qmin, qmax, res != nullptr, add,
      [&](int i, int nb, const Epilogue& e, const ConvInt8Params& p) {
        for (int h = 0; h < 2; ++h) {
          const int valid = nb - 8 * h;
          if (valid <= 0) break;
          int32_t a8[8] = {};
          std::memcpy(a8, acc + i + 8 * h, (valid < 8 ? valid : 8) * sizeof(int32_t));
          const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a8));
          store8(a, e, h, valid, out + i + 8 * h, 0, res ? res + i + 8 * h : nullptr, Ctx8(p));
        }
      });
}

// The store of an M-pixel by 16-channel ymm tile (acc[i][h]: pixel i,
// channels [8h, 8h + 8)), shared by the AVX2 and AVX-VNNI micro-kernels.
template <int M, class TileArgsT>
inline void store_tile(__m256i (&acc)[M][2], const TileArgsT& a, const ConvInt8Params& p) {
  const Ctx8 c(p);
  const Epilogue& e = a.ep[0];
  for (int h = 0; h < 2; ++h) {
    const int valid = a.kvalid - 8 * h;
    if (valid <= 0) break;
#pragma GCC unroll 8
    for (int i = 0; i < M; ++i)
      store8(acc[i][h], e, h, valid, a.out, i * a.out_stride + 8 * h, a.res, c);
  }
}

}  // namespace avx2
}  // namespace ecg::int8::detail
