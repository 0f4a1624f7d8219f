// AVX-VNNI int8 convolution (the VEX-encoded vpdpbusd of CPUs with AVX-VNNI
// but no AVX-512, and of AVX-512 CPUs when ymm is wanted): the micro-kernel
// for the shared driver (conv_int8_driver.h). Compiled with -mavx2 -mavxvnni.
//
// As in the AVX-512 unit, the band holds activations shifted to unsigned
// (x + 128) and the pack step folds -128 * sum(w) into the bias; vpdpbusd
// wraps modulo 2^32 like the spec. The epilogue is the AVX2 one.
// Micro-kernel: 6 output pixels x 16 output channels = 12 ymm accumulators.
#include <immintrin.h>

#include "kernels/cpu/int8/ymm_tile.h"

namespace ecg::int8::detail {
namespace {

struct VnniDot {
  using Band = uint8_t;
  using Weight = int8_t;
  static __m256i step(__m256i acc, __m256i b, __m256i w) {
    return _mm256_dpbusd_avx_epi32(acc, b, w);
  }
};

struct AvxVnniTraits {
  using Band = uint8_t;
  using Weight = int8_t;
  using Args = TileArgs<Band, Weight>;
  static constexpr int kGroup = 4;
  static constexpr int kMR = 6;
  static constexpr int kBlocks = 1;
  static constexpr int kActShift = 128;
  static constexpr Int8Kernel kKernel = Int8Kernel::AvxVnni;

  static uint8_t convert(int8_t x) { return to_shifted_u8(x); }
  static void convert_run(const int8_t* src, uint8_t* dst, int64_t n) {
    to_shifted_u8_run(src, dst, n);
  }
  static void dispatch(int m, bool, const Args& a, const ConvInt8Params& p) {
    run_tile<YmmTile<VnniDot>, kMR>(m, a, p);
  }
};

}  // namespace

std::unique_ptr<PackedConvInt8> pack_conv_int8_avxvnni(const ConvInt8Params& p, const int8_t* w) {
  return std::make_unique<PackedConvSimd<AvxVnniTraits>>(p, w);
}

}  // namespace ecg::int8::detail
