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

#include "kernels/cpu/int8/u8s8_tile.h"

namespace ecg::int8::detail {
namespace {

using Args = TileArgs<uint8_t, int8_t>;

struct VnniDot {
  static __m256i step(__m256i acc, __m256i b, __m256i w) {
    return _mm256_dpbusd_avx_epi32(acc, b, w);
  }
};

constexpr int kMR = 6;
using TileFn = void (*)(const Args&, const ConvInt8Params&);

template <size_t... I>
constexpr std::array<TileFn, sizeof...(I)> make_table(std::index_sequence<I...>) {
  return {{&u8s8_tile<VnniDot, static_cast<int>(I) + 1>...}};
}

struct AvxVnniTraits {
  using Band = uint8_t;
  using Weight = int8_t;
  static constexpr int kGroup = 4;
  static constexpr int kMR = ::ecg::int8::detail::kMR;
  static constexpr int kBlocks = 1;
  static constexpr int kActShift = 128;
  static constexpr Int8Kernel kKernel = Int8Kernel::AvxVnni;

  static uint8_t convert(int8_t x) { return to_shifted_u8(x); }
  static void convert_run(const int8_t* src, uint8_t* dst, int64_t n) {
    to_shifted_u8_run(src, dst, n);
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
