// The ymm micro-kernel body of the AVX2-class int8 units: M consecutive
// output pixels x 16 output channels, two ymm accumulators per pixel. Shared
// by the AVX-VNNI unit (u8 x s8, one vpdpbusd per step) and both paths of the
// AVX2 unit (u8 x s8 with vpmaddubsw + vpmaddwd by ones; int16 x int16 with
// vpmaddwd). One 32-bit broadcast of the band carries the inputs of a group
// (4 bytes shifted to unsigned, x + 128, or 2 int16); the packed weights of a
// group are [16 channels][the group's inputs], 64 bytes.
//
// Dot::Band, Dot::Weight: the element types of band and weights.
// Dot::step(acc, b, w) adds to each int32 lane of acc the products of the
// group's inputs in b with their weights in w. Each ISA unit includes this
// file and instantiates it with its own Dot, compiled with its own flags.
#pragma once
#include <immintrin.h>

#include <cstring>

#include "kernels/cpu/int8/conv_int8_driver.h"
#include "kernels/cpu/int8/epilogue_avx2.h"

namespace ecg::int8::detail {

template <class Dot>
struct YmmTile {
  using Band = typename Dot::Band;
  using W = typename Dot::Weight;
  using Args = TileArgs<Band, W>;
  static constexpr int kBandStep = 4 / sizeof(Band);  // band elements per group
  static constexpr int kWStep = 64 / sizeof(W);       // weight elements per group

  template <int M>
  static void run(const Args& a, const ConvInt8Params& p) {
    __m256i acc[M][2];
    for (int i = 0; i < M; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_si256();
    const int64_t ps = a.pix_stride;
    for (int tap = 0; tap < a.taps; ++tap) {
      const Band* s = a.src + a.tap_off[tap];
      const W* w = a.w + static_cast<int64_t>(tap) * a.groups * kWStep;
      for (int g = 0; g < a.groups; ++g, s += kBandStep, w += kWStep) {
        const __m256i w0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(w));
        const __m256i w1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(w + kWStep / 2));
#pragma GCC unroll 16
        for (int i = 0; i < M; ++i) {
          int32_t x4;
          std::memcpy(&x4, s + i * ps, 4);
          const __m256i b = _mm256_set1_epi32(x4);
          acc[i][0] = Dot::step(acc[i][0], b, w0);
          acc[i][1] = Dot::step(acc[i][1], b, w1);
        }
      }
    }
    avx2::store_tile<M>(acc, a, p);
  }
};

// The band conversion of the u8 kernels: x + 128 as a byte, i.e. x ^ 0x80.
inline uint8_t to_shifted_u8(int8_t x) {
  return static_cast<uint8_t>(x) ^ 0x80u;
}
inline void to_shifted_u8_run(const int8_t* src, uint8_t* dst, int64_t n) {
  const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
  int64_t i = 0;
  for (; i + 32 <= n; i += 32)
    _mm256_storeu_si256(
        reinterpret_cast<__m256i*>(dst + i),
        _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i)), flip));
  for (; i < n; ++i) dst[i] = to_shifted_u8(src[i]);
}

}  // namespace ecg::int8::detail
