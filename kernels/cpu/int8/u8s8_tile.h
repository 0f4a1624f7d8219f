// The u8 x s8 micro-kernel body shared by the AVX-VNNI unit (one vpdpbusd per
// step) and the AVX2 unit's vpmaddubsw path (vpmaddubsw + vpmaddwd + vpaddd):
// M consecutive output pixels x 16 output channels, two ymm accumulators per
// pixel. The band holds activations shifted to unsigned (x + 128); the packed
// weights hold [16 channels][4 inputs] int8 per group, so one 32-bit broadcast
// of the band carries the 4 inputs of a group.
//
// Dot::step(acc, b, w) adds to each int32 lane of acc the sum of the four
// products of b's unsigned bytes and w's signed bytes in that lane. Each ISA
// unit includes this file and instantiates it with its own Dot, compiled with
// its own flags.
#pragma once
#include <immintrin.h>

#include <cstring>

#include "kernels/cpu/int8/conv_int8_driver.h"
#include "kernels/cpu/int8/epilogue_avx2.h"

namespace ecg::int8::detail {

template <class Dot, int M>
void u8s8_tile(const TileArgs<uint8_t, int8_t>& a, const ConvInt8Params& p) {
  __m256i acc[M][2];
  for (int i = 0; i < M; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_si256();
  const int64_t ps = a.pix_stride;
  for (int tap = 0; tap < a.taps; ++tap) {
    const uint8_t* s = a.src + a.tap_off[tap];
    const int8_t* w = a.w + static_cast<int64_t>(tap) * a.groups * 64;
    for (int g = 0; g < a.groups; ++g, s += 4, w += 64) {
      const __m256i w0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(w));
      const __m256i w1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(w + 32));
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
