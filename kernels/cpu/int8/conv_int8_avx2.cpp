// AVX2 int8 convolution without VNNI: the micro-kernel for the shared driver
// (conv_int8_driver.h). Compiled with -mavx2 -mfma; chosen when the CPU has
// AVX2 but neither VNNI flavour (or when forced, for tests).
//
// Exactness: activations and weights are widened to int16 (band and packed
// weights hold int16) and multiplied with vpmaddwd, whose pairwise int16
// products summed into int32 cannot saturate (|x*w| <= 128*127, the pair sum
// < 2^15 * 2). vpmaddubsw is never used: it saturates its int16 pair sums,
// which breaks bit-exactness for large activations.
// Micro-kernel: 5 output pixels x 16 output channels (10 ymm accumulators,
// 2 weight registers, a broadcast and a product temporary of 16 registers);
// each broadcast carries 2 input channels.
#include <immintrin.h>

#include <array>
#include <utility>

#include "kernels/cpu/int8/conv_int8_driver.h"
#include "kernels/cpu/int8/epilogue_avx2.h"

namespace ecg::int8::detail {
namespace {

using Args = TileArgs<int16_t, int16_t>;

template <int M>
void tile(const Args& a, const ConvInt8Params& p) {
  __m256i acc[M][2];
  for (int i = 0; i < M; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_si256();
  const int64_t ps = a.pix_stride;
  for (int tap = 0; tap < a.taps; ++tap) {
    const int16_t* s = a.src + a.tap_off[tap];
    const int16_t* w = a.w + static_cast<int64_t>(tap) * a.groups * 32;
    for (int g = 0; g < a.groups; ++g, s += 2, w += 32) {
      const __m256i w0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(w));
      const __m256i w1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(w + 16));
#pragma GCC unroll 16
      for (int i = 0; i < M; ++i) {
        int32_t x2;
        std::memcpy(&x2, s + i * ps, 4);
        const __m256i b = _mm256_set1_epi32(x2);
        acc[i][0] = _mm256_add_epi32(acc[i][0], _mm256_madd_epi16(b, w0));
        acc[i][1] = _mm256_add_epi32(acc[i][1], _mm256_madd_epi16(b, w1));
      }
    }
  }
  avx2::store_tile<M>(acc, a, p);
}

constexpr int kMR = 5;
using TileFn = void (*)(const Args&, const ConvInt8Params&);

template <size_t... I>
constexpr std::array<TileFn, sizeof...(I)> make_table(std::index_sequence<I...>) {
  return {{&tile<static_cast<int>(I) + 1>...}};
}

struct Avx2Traits {
  using Band = int16_t;
  using Weight = int16_t;
  static constexpr int kGroup = 2;
  static constexpr int kMR = ::ecg::int8::detail::kMR;
  static constexpr int kBlocks = 1;
  static constexpr int kActShift = 0;
  static constexpr Int8Kernel kKernel = Int8Kernel::Avx2;

  static int16_t convert(int8_t x) { return x; }
  static void convert_run(const int8_t* src, int16_t* dst, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
      _mm256_storeu_si256(
          reinterpret_cast<__m256i*>(dst + i),
          _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
    for (; i < n; ++i) dst[i] = src[i];
  }
  static void dispatch(int m, bool, const Args& a, const ConvInt8Params& p) {
    static constexpr auto t = make_table(std::make_index_sequence<kMR>{});
    t[m - 1](a, p);
  }
};

}  // namespace

std::unique_ptr<PackedConvInt8> pack_conv_int8_avx2(const ConvInt8Params& p, const int8_t* w) {
  return std::make_unique<PackedConvSimd<Avx2Traits>>(p, w);
}

void epilogue_hook_avx2(int n, const int32_t* acc, const Requant* rq, int32_t zp_out, int32_t qmin,
                        int32_t qmax, const int8_t* res, const AddRequant& add, int8_t* out) {
  avx2::epilogue_hook(n, acc, rq, zp_out, qmin, qmax, res, add, out);
}

}  // namespace ecg::int8::detail
