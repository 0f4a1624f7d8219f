// AVX2 int8 convolution without VNNI: two micro-kernels for the shared driver
// (conv_int8_driver.h), chosen per layer when its weights are packed.
// Compiled with -mavx2 -mfma; used when the CPU has AVX2 but neither VNNI
// flavour (or when forced, for tests).
//
// avx2-maddubs (the fast path): activations shifted to unsigned bytes
// (x + 128, folded into the bias as the VNNI kernels do) times int8 weights
// with vpmaddubsw, whose adjacent-pair sums land in int16, then vpmaddwd by 1
// into int32: 32 multiplies per three instructions, on a byte band. vpmaddubsw
// saturates a pair sum outside int16, so the path is taken only when the
// layer's weights prove that no input can saturate any pair (see
// maddubs_cannot_saturate): with u in [0, 255], a pair (w0, w1) reaches
// 255 * (max(w0, 0) + max(w1, 0)) at most, and 255 * (min(w0, 0) + min(w1, 0))
// at least, so both sums within [-128, 128] keep it inside [-32768, 32767].
// Weights quantized to 7 bits (`ecgcnn quantize --weight-bits 7`, [-63, 63])
// always pass; 8-bit weights pass where large weights do not meet in a pair.
// The result is then the exact integer sum, bit for bit the reference.
//
// avx2-maddwd (the fallback, exact for any int8 weights): activations and
// weights widened to int16 and multiplied with vpmaddwd, whose pairwise int16
// products summed into int32 cannot saturate (|x*w| <= 128*127): 16
// multiplies per two instructions, on an int16 band.
//
// Micro-kernels: maddwd 5 output pixels x 16 channels (10 ymm accumulators,
// 2 weight registers, a broadcast and a product temporary of 16 registers),
// each broadcast carrying 2 input channels; maddubs 4 pixels x 16 channels
// (8 accumulators, 2 weights, a broadcast, the ones vector and two products),
// each broadcast carrying 4 input channels.
#include <immintrin.h>

#include <algorithm>

#include "kernels/cpu/int8/conv_int8_driver.h"
#include "kernels/cpu/int8/epilogue_avx2.h"
#include "kernels/cpu/int8/ymm_tile.h"

namespace ecg::int8::detail {
namespace {

// vpmaddwd on the int16 band: two int16 products per int32 lane, summed.
struct MaddwdDot {
  using Band = int16_t;
  using Weight = int16_t;
  static __m256i step(__m256i acc, __m256i b, __m256i w) {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(b, w));
  }
};

struct Avx2Traits {
  using Band = int16_t;
  using Weight = int16_t;
  using Args = TileArgs<Band, Weight>;
  static constexpr int kGroup = 2;
  static constexpr int kMR = 5;
  static constexpr int kBlocks = 1;
  static constexpr int kActShift = 0;
  static constexpr Int8Kernel kKernel = Int8Kernel::Avx2;
  static constexpr const char* kVariant = "avx2-maddwd";

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
    run_tile<YmmTile<MaddwdDot>, kMR>(m, a, p);
  }
};

// vpmaddubsw + vpmaddwd by ones: the four u8 x s8 products of each 32-bit lane
// summed into int32, exact when no adjacent pair saturates int16.
struct MaddubsDot {
  using Band = uint8_t;
  using Weight = int8_t;
  static __m256i step(__m256i acc, __m256i b, __m256i w) {
    const __m256i pairs = _mm256_maddubs_epi16(b, w);
    return _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
  }
};

struct Avx2MaddubsTraits {
  using Band = uint8_t;
  using Weight = int8_t;
  using Args = TileArgs<Band, Weight>;
  static constexpr int kGroup = 4;
  static constexpr int kMR = 4;
  static constexpr int kBlocks = 1;
  static constexpr int kActShift = 128;
  static constexpr Int8Kernel kKernel = Int8Kernel::Avx2;
  static constexpr const char* kVariant = "avx2-maddubs";

  static uint8_t convert(int8_t x) { return to_shifted_u8(x); }
  static void convert_run(const int8_t* src, uint8_t* dst, int64_t n) {
    to_shifted_u8_run(src, dst, n);
  }
  static void dispatch(int m, bool, const Args& a, const ConvInt8Params& p) {
    run_tile<YmmTile<MaddubsDot>, kMR>(m, a, p);
  }
};

}  // namespace

// The pairs vpmaddubsw forms are input channels (2j, 2j + 1) at one tap of one
// output channel (the packing groups 4 consecutive channels; channels past C
// are zero weights). See the file comment for the bound.
bool maddubs_cannot_saturate(const Conv2dShape& s, const int8_t* w) {
  const int RS = s.R * s.S;
  for (int k = 0; k < s.K; ++k)
    for (int c = 0; c < s.C; c += 2)
      for (int tap = 0; tap < RS; ++tap) {
        const int w0 = w[(static_cast<int64_t>(k) * s.C + c) * RS + tap];
        const int w1 = c + 1 < s.C ? w[(static_cast<int64_t>(k) * s.C + c + 1) * RS + tap] : 0;
        if (std::max(w0, 0) + std::max(w1, 0) > 128 || std::min(w0, 0) + std::min(w1, 0) < -128)
          return false;
      }
  return true;
}

std::unique_ptr<PackedConvInt8> pack_conv_int8_avx2(const ConvInt8Params& p, const int8_t* w) {
  if (maddubs_cannot_saturate(p.shape, w))
    return std::make_unique<PackedConvSimd<Avx2MaddubsTraits>>(p, w);
  return std::make_unique<PackedConvSimd<Avx2Traits>>(p, w);
}

void epilogue_hook_avx2(int n, const int32_t* acc, const Requant* rq, int32_t zp_out, int32_t qmin,
                        int32_t qmax, const int8_t* res, const AddRequant& add, int8_t* out) {
  avx2::epilogue_hook(n, acc, rq, zp_out, qmin, qmax, res, add, out);
}

}  // namespace ecg::int8::detail
