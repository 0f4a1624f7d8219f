// AVX-VNNI int8 convolution (the VEX-encoded vpdpbusd of CPUs with AVX-VNNI
// but no AVX-512, and of AVX-512 CPUs when ymm is wanted): the micro-kernel
// for the shared driver (conv_int8_driver.h). Compiled with -mavx2 -mavxvnni.
//
// As in the AVX-512 unit, the band holds activations shifted to unsigned
// (x + 128) and the pack step folds -128 * sum(w) into the bias; vpdpbusd
// wraps modulo 2^32 like the spec. The epilogue is the AVX2 one.
// Micro-kernel: 6 output pixels x 16 output channels = 12 ymm accumulators.
#include <immintrin.h>

#include <array>
#include <utility>

#include "kernels/cpu/int8/conv_int8_driver.h"
#include "kernels/cpu/int8/epilogue_avx2.h"

namespace ecg::int8::detail {
namespace {

using Args = TileArgs<uint8_t, int8_t>;

template <int M>
void tile(const Args& a, const ConvInt8Params& p) {
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
        acc[i][0] = _mm256_dpbusd_avx_epi32(acc[i][0], b, w0);
        acc[i][1] = _mm256_dpbusd_avx_epi32(acc[i][1], b, w1);
      }
    }
  }
  avx2::store_tile<M>(acc, a, p);
}

constexpr int kMR = 6;
using TileFn = void (*)(const Args&, const ConvInt8Params&);

template <size_t... I>
constexpr std::array<TileFn, sizeof...(I)> make_table(std::index_sequence<I...>) {
  return {{&tile<static_cast<int>(I) + 1>...}};
}

struct AvxVnniTraits {
  using Band = uint8_t;
  using Weight = int8_t;
  static constexpr int kGroup = 4;
  static constexpr int kMR = ::ecg::int8::detail::kMR;
  static constexpr int kBlocks = 1;
  static constexpr int kActShift = 128;
  static constexpr Int8Kernel kKernel = Int8Kernel::AvxVnni;

  static uint8_t convert(int8_t x) { return static_cast<uint8_t>(x) ^ 0x80u; }
  static void convert_run(const int8_t* src, uint8_t* dst, int64_t n) {
    const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
    int64_t i = 0;
    for (; i + 32 <= n; i += 32)
      _mm256_storeu_si256(
          reinterpret_cast<__m256i*>(dst + i),
          _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i)), flip));
    for (; i < n; ++i) dst[i] = convert(src[i]);
  }
  static void dispatch(int m, bool, const Args& a, const ConvInt8Params& p) {
    static constexpr auto t = make_table(std::make_index_sequence<kMR>{});
    t[m - 1](a, p);
  }
};

}  // namespace

std::unique_ptr<PackedConvInt8> pack_conv_int8_avxvnni(const ConvInt8Params& p, const int8_t* w) {
  return std::make_unique<PackedConvSimd<AvxVnniTraits>>(p, w);
}

}  // namespace ecg::int8::detail
