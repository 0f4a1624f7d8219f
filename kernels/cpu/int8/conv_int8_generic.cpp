// Portable int8 convolution: the shared blocked driver (conv_int8_driver.h)
// with a plain C++ micro-kernel, for CPUs without an ISA unit (aarch64 until
// a NEON unit exists, old x86). Compiled with the library's own flags. It is
// the correctness-first fallback, not a fast path: GCC 12 at -O3 -msse2 runs
// ResNet-11's convolutions at about 13 GOP/s on one x86 core (its vectoriser
// picks the strided input-channel loop); a NEON unit replaces it on aarch64.
//
// Band and weights hold int16 (no activation shift, G = 1 input channel per
// step); accumulation in uint32 so that a wrap (never reached by real layers)
// is defined and equals the int32 wrap of the spec. The epilogue is the
// scalar int8::requantize / add_requantize itself.
#include "kernels/cpu/int8/conv_int8_driver.h"

namespace ecg::int8::detail {
namespace {

using Args = TileArgs<int16_t, int16_t>;

struct GenericTile {
  template <int M>
  static void run(const Args& a, const ConvInt8Params& p);
};

template <int M>
void GenericTile::run(const Args& a, const ConvInt8Params& p) {
  uint32_t acc[M][16];
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < 16; ++j) acc[i][j] = static_cast<uint32_t>(a.ep->bias[j]);
  const int64_t ps = a.pix_stride;
  for (int tap = 0; tap < a.taps; ++tap) {
    const int16_t* s = a.src + a.tap_off[tap];
    const int16_t* w = a.w + static_cast<int64_t>(tap) * a.groups * 16;
    for (int c = 0; c < a.groups; ++c, w += 16)
      for (int i = 0; i < M; ++i) {
        const int16_t xv = s[i * ps + c];
        for (int j = 0; j < 16; ++j) acc[i][j] += static_cast<uint32_t>(xv * w[j]);
      }
  }
  const Epilogue& e = *a.ep;
  const int valid = a.kvalid < 16 ? a.kvalid : 16;
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < valid; ++j) {
      const int64_t o = i * a.out_stride + j;
      const int32_t v = static_cast<int32_t>(acc[i][j]);
      if (p.output == OutputMode::Int32) {
        static_cast<int32_t*>(a.out)[o] = v;
        continue;
      }
      const Requant r{e.m0[j], static_cast<int32_t>(j % 2 ? e.sh_o[j / 2] : e.sh_e[j / 2])};
      int8_t y = requantize(v, r, p.zp_out, p.qmin, p.qmax);
      if (a.res) y = add_requantize(y, a.res[o], p.add);
      static_cast<int8_t*>(a.out)[o] = y;
    }
}

struct GenericTraits {
  using Band = int16_t;
  using Weight = int16_t;
  static constexpr int kGroup = 1;
  static constexpr int kMR = 4;
  static constexpr int kBlocks = 1;
  static constexpr int kActShift = 0;
  static constexpr Int8Kernel kKernel = Int8Kernel::Generic;

  static int16_t convert(int8_t x) { return x; }
  static void convert_run(const int8_t* src, int16_t* dst, int64_t n) {
    for (int64_t i = 0; i < n; ++i) dst[i] = src[i];
  }
  static void dispatch(int m, bool, const Args& a, const ConvInt8Params& p) {
    run_tile<GenericTile, kMR>(m, a, p);
  }
};

}  // namespace

std::unique_ptr<PackedConvInt8> pack_conv_int8_generic(const ConvInt8Params& p, const int8_t* w) {
  return std::make_unique<PackedConvSimd<GenericTraits>>(p, w);
}

}  // namespace ecg::int8::detail
