// Every int8 convolution kernel available on this machine against the scalar
// reference (kernels/ref/int8_ref.h), byte for byte, on a table of shapes:
// odd channel counts, stride 2, TensorFlow "same" (asymmetric) padding, 1x1,
// 3x3, 11x11/4, dense, batch 1 and > 1, fused residual add, int32 output,
// an all-zero weight channel, and constant activations.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "kernels/error.h"
#include "kernels/int8_api.h"
#include "kernels/ref/int8_ref.h"
#include "kernels/runtime.h"

namespace {

using namespace ecg;
using int8::ConvInt8Params;
using int8::Int8Kernel;
using int8::OutputMode;

struct Case {
  const char* name;
  int N, C, H, W, K, R, S, stride;
  int pad;  // -1: TF same, -2: explicit asymmetric (0, 1, 2, 0), else symmetric
};

const Case kCases[] = {
    {"stem_3x3_c3", 1, 3, 17, 19, 16, 3, 3, 1, -1},
    {"odd_c5_k7_s2_batch2", 2, 5, 9, 11, 7, 3, 3, 2, -1},
    {"pointwise_16_64", 1, 16, 6, 30, 64, 1, 1, 1, 0},
    {"pointwise_s2_k33", 1, 16, 13, 13, 33, 1, 1, 2, 0},
    {"alexnet_11x11_s4", 1, 3, 40, 40, 8, 11, 11, 4, 0},
    {"c20_k48_batch2", 2, 20, 8, 8, 48, 3, 3, 1, -1},
    {"c64_k40_s2", 1, 64, 10, 9, 40, 3, 3, 2, -1},
    {"asym_pad_c7_k17_batch3", 3, 7, 5, 6, 17, 2, 3, 1, -2},
    {"one_pixel_3x3", 1, 4, 1, 1, 16, 3, 3, 1, -1},
    {"wide_row_c16_k16", 1, 16, 3, 45, 16, 3, 3, 1, 1},
    {"c128_k96_s1", 1, 128, 5, 7, 96, 3, 3, 1, -1},
    {"one_pixel_1x1_s2_batch3", 3, 8, 1, 1, 20, 1, 1, 2, 0},
};

Conv2dShape make_shape(const Case& c) {
  Conv2dShape s;
  s.N = c.N;
  s.C = c.C;
  s.H = c.H;
  s.W = c.W;
  s.K = c.K;
  s.R = c.R;
  s.S = c.S;
  s.stride_h = s.stride_w = c.stride;
  if (c.pad == -1) {
    tf_same_padding(c.H, c.R, c.stride, s.pad_top, s.pad_bottom);
    tf_same_padding(c.W, c.S, c.stride, s.pad_left, s.pad_right);
  } else if (c.pad == -2) {
    s.pad_top = 0;
    s.pad_bottom = 1;
    s.pad_left = 2;
    s.pad_right = 0;
  } else {
    s.pad_top = s.pad_bottom = s.pad_left = s.pad_right = c.pad;
  }
  conv2d_finalize(s);
  return s;
}

// Random but realistic quantization: multipliers spread the accumulator
// over the int8 range, with a few channels at the encoding's edges.
// With edges, a few channels sit at the encoding's extremes (which also
// takes the SIMD epilogues off their t >= 32 fast path for that block).
ConvInt8Params random_params(const Conv2dShape& s, std::mt19937_64& g, bool residual,
                             OutputMode mode, bool edges = true) {
  ConvInt8Params p;
  p.shape = s;
  p.zp_in = static_cast<int32_t>(g() % 256) - 128;
  p.zp_out = static_cast<int32_t>(g() % 200) - 100;
  p.qmin = (g() & 1) ? p.zp_out : -128;  // ReLU or not
  p.qmax = 127;
  p.output = mode;
  const double typical = 1.0 / (std::sqrt(double(s.C) * s.R * s.S) * 127.0 * 40.0);
  std::uniform_real_distribution<double> spread(-2.0, 2.0);
  for (int k = 0; k < s.K; ++k) {
    p.bias.push_back(static_cast<int32_t>(g() % 20001) - 10000);
    double M = typical * std::exp2(spread(g));
    if (edges && k % 11 == 5) M = 3.7;    // t < 31: values beyond int32 before the clamp
    if (edges && k % 13 == 7) M = 1e-12;  // encodes as M0 = 0
    if (edges && k % 17 == 3) M = 1e12;   // saturating
    p.requant.push_back(int8::make_requant(M));
  }
  if (residual) {
    std::uniform_real_distribution<double> e(-1.5, 1.5);
    const int32_t zo = static_cast<int32_t>(g() % 100) - 50;
    p.residual = true;
    p.add = int8::make_add_requant(std::exp2(e(g)), p.zp_out, std::exp2(e(g)),
                                   static_cast<int32_t>(g() % 256) - 128, 1.0, zo, zo, 127);
  }
  return p;
}

std::vector<Int8Kernel> all_kernels() {
  std::vector<Int8Kernel> ks;
  for (Int8Kernel k : {Int8Kernel::Ref, Int8Kernel::Generic, Int8Kernel::Avx2, Int8Kernel::AvxVnni,
                       Int8Kernel::Avx512Vnni, Int8Kernel::Neon, Int8Kernel::NeonDot})
    if (int8::int8_kernel_supported(k)) ks.push_back(k);
  return ks;
}

// Runs every kernel and compares with the reference; reports the count of
// mismatching bytes and the first one.
void check_all(const ConvInt8Params& p, int N, const std::vector<int8_t>& w,
               const std::vector<int8_t>& x, const std::vector<int8_t>& res,
               const std::string& label) {
  const Conv2dShape& s = p.shape;
  const size_t outs = static_cast<size_t>(N) * s.P * s.Q * s.K;
  const size_t esz = p.output == OutputMode::Int32 ? 4 : 1;
  std::vector<uint8_t> want(outs * esz), got(outs * esz);
  ref::conv_int8(p, N, w.data(), x.data(), want.data(), res.data());
  for (Int8Kernel k : all_kernels()) {
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      auto packed = int8::pack_conv_int8(p, w.data(), k);
      std::fill(got.begin(), got.end(), 0x5A);
      packed->run(N, x.data(), got.data(), res.data());
      size_t bad = 0, first = 0;
      for (size_t i = 0; i < got.size(); ++i)
        if (got[i] != want[i] && bad++ == 0) first = i;
      EXPECT_EQ(bad, 0u) << label << " kernel=" << int8::int8_kernel_name(k)
                         << " threads=" << threads << " first byte " << first << ": got "
                         << int(got[first]) << " want " << int(want[first]);
    }
  }
  set_num_threads(0);
}

// wmax: weights drawn from [-wmax, wmax] (127: 8-bit, 63: 7-bit).
void run_case(const Case& c, bool residual, OutputMode mode, uint64_t seed, int wmax = 127) {
  std::mt19937_64 g(seed);
  const Conv2dShape s = make_shape(c);
  const ConvInt8Params p = random_params(s, g, residual, mode, seed % 2 == 0);
  std::vector<int8_t> w(static_cast<size_t>(s.K) * s.C * s.R * s.S);
  for (auto& v : w)
    v = static_cast<int8_t>(static_cast<int>(g() % static_cast<uint64_t>(2 * wmax + 1)) - wmax);
  // Output channel 0 all zero (a pruned/dead filter): its output is bias only.
  std::fill(w.begin(), w.begin() + static_cast<size_t>(s.C) * s.R * s.S, 0);
  std::vector<int8_t> x(static_cast<size_t>(s.N) * s.H * s.W * s.C);
  for (auto& v : x) v = static_cast<int8_t>(g());
  std::vector<int8_t> res(static_cast<size_t>(s.N) * s.P * s.Q * s.K);
  for (auto& v : res) v = static_cast<int8_t>(g());
  check_all(p, s.N, w, x, res, c.name);
  // Constant activations equal to the zero point: every output is the bias
  // alone requantized, identical across kernels.
  std::vector<int8_t> xc(x.size(), static_cast<int8_t>(p.zp_in));
  check_all(p, s.N, w, xc, res, std::string(c.name) + "/constant");
}

TEST(ConvInt8, EveryKernelMatchesReference) {
  for (Int8Kernel k : all_kernels())
    std::printf("int8 kernel available: %s\n", int8::int8_kernel_name(k));
  uint64_t seed = 1;
  for (const Case& c : kCases) run_case(c, false, OutputMode::Int8, seed++);
}

TEST(ConvInt8, FusedResidualAddMatchesReference) {
  uint64_t seed = 100;
  for (const Case& c : kCases) run_case(c, true, OutputMode::Int8, seed++);
}

TEST(ConvInt8, Int32OutputMatchesReference) {
  uint64_t seed = 200;
  for (const Case& c : kCases) run_case(c, false, OutputMode::Int32, seed++);
}

TEST(ConvInt8, RandomShapesMatchReference) {
  // Shapes the table does not think of: every kernel, random geometry with
  // independent asymmetric pads, strides up to 3, kernels up to 5x5 (wider
  // than the input too), channel counts around the vector widths.
  std::mt19937_64 g(4242);
  int tested = 0;
  while (tested < 30) {
    Conv2dShape s;
    s.N = 1 + static_cast<int>(g() % 3);
    s.C = 1 + static_cast<int>(g() % 40);
    s.K = 1 + static_cast<int>(g() % 70);
    s.H = 1 + static_cast<int>(g() % 12);
    s.W = 1 + static_cast<int>(g() % 20);
    s.R = 1 + static_cast<int>(g() % 5);
    s.S = 1 + static_cast<int>(g() % 5);
    s.stride_h = 1 + static_cast<int>(g() % 3);
    s.stride_w = 1 + static_cast<int>(g() % 3);
    s.pad_top = static_cast<int>(g() % 3);
    s.pad_bottom = static_cast<int>(g() % 3);
    s.pad_left = static_cast<int>(g() % 3);
    s.pad_right = static_cast<int>(g() % 3);
    if (!conv2d_finalize(s)) continue;
    const bool residual = g() % 3 == 0;
    const OutputMode mode = (!residual && g() % 4 == 0) ? OutputMode::Int32 : OutputMode::Int8;
    const ConvInt8Params p = random_params(s, g, residual, mode, g() % 2 == 0);
    std::vector<int8_t> w(static_cast<size_t>(s.K) * s.C * s.R * s.S);
    for (auto& v : w) v = static_cast<int8_t>(static_cast<int>(g() % 255) - 127);
    std::vector<int8_t> x(static_cast<size_t>(s.N) * s.H * s.W * s.C);
    for (auto& v : x) v = static_cast<int8_t>(g());
    std::vector<int8_t> res(static_cast<size_t>(s.N) * s.P * s.Q * s.K);
    for (auto& v : res) v = static_cast<int8_t>(g());
    check_all(p, s.N, w, x, res, "random#" + std::to_string(tested));
    ++tested;
  }
}

TEST(ConvInt8, ExtremeValuesMatchReference) {
  // Saturated inputs and weights (+-127, -128 activations) with the largest
  // products the accumulator sees.
  const Case c{"extreme", 1, 37, 6, 7, 20, 3, 3, 1, -1};
  const Conv2dShape s = make_shape(c);
  std::mt19937_64 g(77);
  ConvInt8Params p = random_params(s, g, true, OutputMode::Int8);
  p.zp_in = 127;
  std::vector<int8_t> w(static_cast<size_t>(s.K) * s.C * s.R * s.S);
  for (auto& v : w) v = (g() & 1) ? 127 : -127;
  std::vector<int8_t> x(static_cast<size_t>(s.H) * s.W * s.C);
  for (auto& v : x) v = (g() & 1) ? 127 : -128;
  std::vector<int8_t> res(static_cast<size_t>(s.P) * s.Q * s.K, -128);
  check_all(p, 1, w, x, res, "extreme");
}

// The AVX2 kernel's vpmaddubsw path (kernels/cpu/int8/conv_int8_avx2.cpp):
// taken only where the weights prove no pair can saturate int16, then exact.
std::string avx2_variant(const ConvInt8Params& p, const std::vector<int8_t>& w) {
  return int8::pack_conv_int8(p, w.data(), Int8Kernel::Avx2)->variant();
}

TEST(ConvInt8, SevenBitWeightsTakeTheMaddubsPathAndMatchReference) {
  if (!int8::int8_kernel_supported(Int8Kernel::Avx2)) GTEST_SKIP() << "no AVX2 on this CPU";
  uint64_t seed = 900;
  for (const Case& c : kCases) {
    for (bool residual : {false, true}) run_case(c, residual, OutputMode::Int8, seed++, 63);
    run_case(c, false, OutputMode::Int32, seed++, 63);
    std::mt19937_64 g(seed);
    const Conv2dShape s = make_shape(c);
    std::vector<int8_t> w(static_cast<size_t>(s.K) * s.C * s.R * s.S);
    for (auto& v : w) v = static_cast<int8_t>(static_cast<int>(g() % 127) - 63);
    EXPECT_STREQ(avx2_variant(random_params(s, g, false, OutputMode::Int8), w).c_str(),
                 "avx2-maddubs")
        << c.name;
  }
}

// Pairs exactly at the bound: 255 * (64 + 64) = 32640 and 255 * (-64 - 64) =
// -32640 with every activation at its extreme (x = 127 is u = 255); then one
// weight past it (65 + 64), which must fall back to vpmaddwd, still exact.
TEST(ConvInt8, MaddubsWorstCasePairsMatchReference) {
  if (!int8::int8_kernel_supported(Int8Kernel::Avx2)) GTEST_SKIP() << "no AVX2 on this CPU";
  const Case c{"maddubs_bound", 1, 37, 6, 7, 20, 3, 3, 1, -1};  // odd C: an unpaired channel
  const Conv2dShape s = make_shape(c);
  const int RS = s.R * s.S;
  std::vector<int8_t> w(static_cast<size_t>(s.K) * s.C * RS);
  for (int k = 0; k < s.K; ++k)
    for (int ch = 0; ch < s.C; ++ch)
      for (int tap = 0; tap < RS; ++tap)  // pair j = ch / 2 of channel k: all +64 or all -64
        w[(static_cast<size_t>(k) * s.C + ch) * RS + tap] = ((k + ch / 2 + tap) % 2) ? 64 : -64;
  std::mt19937_64 g(78);
  for (int zp_in : {127, -128}) {
    ConvInt8Params p = random_params(s, g, true, OutputMode::Int32);
    p.zp_in = zp_in;
    std::vector<int8_t> res(static_cast<size_t>(s.P) * s.Q * s.K, 0);
    for (int8_t xv : {int8_t(127), int8_t(-128)}) {
      std::vector<int8_t> x(static_cast<size_t>(s.H) * s.W * s.C, xv);
      EXPECT_EQ(avx2_variant(p, w), "avx2-maddubs");
      check_all(p, 1, w, x, res, "maddubs bound x=" + std::to_string(xv));
      std::vector<int8_t> mixed(x.size());
      for (auto& v : mixed) v = (g() & 1) ? 127 : -128;
      check_all(p, 1, w, mixed, res, "maddubs bound mixed");
    }
    std::vector<int8_t> past = w;
    past[5 * static_cast<size_t>(s.C) * RS] =
        past[5 * static_cast<size_t>(s.C) * RS] > 0 ? 65 : -65;
    EXPECT_EQ(avx2_variant(p, past), "avx2-maddwd");
    std::vector<int8_t> x(static_cast<size_t>(s.H) * s.W * s.C, 127);
    check_all(p, 1, past, x, res, "one pair past the bound");
  }
}

TEST(ConvInt8, DenseMatchesReference) {
  for (int N : {1, 3, 20}) {
    for (auto mode : {OutputMode::Int8, OutputMode::Int32}) {
      std::mt19937_64 g(300 + N);
      ConvInt8Params p = int8::dense_int8_params(301, 5);
      const ConvInt8Params r = random_params(p.shape, g, false, mode);
      p.zp_in = r.zp_in;
      p.zp_out = r.zp_out;
      p.qmin = r.qmin;
      p.bias = r.bias;
      p.requant = r.requant;
      p.output = mode;
      std::vector<int8_t> w(301 * 5), x(static_cast<size_t>(N) * 301), res;
      for (auto& v : w) v = static_cast<int8_t>(static_cast<int>(g() % 255) - 127);
      for (auto& v : x) v = static_cast<int8_t>(g());
      check_all(p, N, w, x, res, "dense N=" + std::to_string(N));
    }
  }
}

TEST(ConvInt8, KernelChoiceFollowsIsaLevel) {
  // ECG_ISA / set_active_isa pick the level for every CPU kernel: the int8
  // kernel is the best one at or below it, and each choice runs here.
  const Isa saved = active_isa();
  for (int i = 0; i < static_cast<int>(Isa::Count); ++i) {
    const Isa level = static_cast<Isa>(i);
    if (!isa_supported(level)) continue;
    set_active_isa(level);
    const Int8Kernel k = int8::best_int8_kernel();
    EXPECT_EQ(k, int8::int8_kernel_for(level));
    EXPECT_TRUE(int8::int8_kernel_supported(k)) << isa_name(level);
    if (level == Isa::Ref) {
      EXPECT_EQ(k, Int8Kernel::Ref);
    }
    if (level == Isa::Generic) {
      EXPECT_EQ(k, Int8Kernel::Generic);
    }
    if (level == Isa::Avx512 && int8::int8_kernel_supported(Int8Kernel::Avx512Vnni)) {
      EXPECT_EQ(k, Int8Kernel::Avx512Vnni);
    }
  }
  set_active_isa(saved);
  // The retired second variable fails loudly instead of being ignored.
  setenv("ECG_INT8_KERNEL", "avx2", 1);
  EXPECT_THROW(int8::best_int8_kernel(), Error);
  unsetenv("ECG_INT8_KERNEL");
  EXPECT_TRUE(int8::int8_kernel_supported(int8::best_int8_kernel()));
}

TEST(ConvInt8, RejectsBadInput) {
  ConvInt8Params p = int8::dense_int8_params(4, 2);
  p.requant.assign(2, int8::make_requant(0.01));
  std::vector<int8_t> w(8, 1);
  w[3] = -128;
  EXPECT_THROW(int8::pack_conv_int8(p, w.data(), Int8Kernel::Ref), Error);
  w[3] = 1;
  p.requant.pop_back();
  EXPECT_THROW(int8::pack_conv_int8(p, w.data(), Int8Kernel::Ref), Error);
}

TEST(ConvInt8, ScratchIsBoundedByRowsNotImage) {
  // The band depends on the row width and kernel height, not on H.
  for (Int8Kernel k : all_kernels()) {
    if (k == Int8Kernel::Ref) continue;
    Conv2dShape a = make_shape({"a", 1, 16, 224, 224, 64, 3, 3, 1, -1});
    Conv2dShape b = make_shape({"b", 1, 16, 2240, 224, 64, 3, 3, 1, -1});
    ConvInt8Params pa, pb;
    pa.shape = a;
    pb.shape = b;
    pa.requant.assign(64, int8::Requant{});
    pb.requant = pa.requant;
    std::vector<int8_t> w(64 * 16 * 9, 1);
    const size_t sa = int8::pack_conv_int8(pa, w.data(), k)->scratch_bytes_per_thread();
    const size_t sb = int8::pack_conv_int8(pb, w.data(), k)->scratch_bytes_per_thread();
    EXPECT_EQ(sa, sb);
    EXPECT_LT(sa, 64u * 1024u) << int8::int8_kernel_name(k);
  }
}

}  // namespace

// run_rows (one band of output rows from a window of input rows, on the
// calling thread) gives the bytes of those rows of run(), for every kernel:
// bands at the top and bottom edges (inside the padding), single rows,
// bands of one tile and of several, windows exactly as tall as the rows read
// and windows with spare rows around them.
TEST(ConvInt8, RowBandsMatchWholeImage) {
  std::mt19937_64 g(777);
  const Case cases[] = {
      {"stem_3x3_c3", 1, 3, 17, 19, 16, 3, 3, 1, -1},
      {"odd_c5_k7_s2", 1, 5, 13, 11, 7, 3, 3, 2, -1},
      {"pointwise_s2_k33", 1, 16, 13, 13, 33, 1, 1, 2, 0},
      {"asym_pad_c7_k17", 1, 7, 9, 6, 17, 2, 3, 1, -2},
      {"c20_k48_pad2", 1, 20, 11, 8, 48, 5, 5, 1, 2},
      {"alexnet_11x11_s4", 1, 3, 40, 40, 8, 11, 11, 4, 0},
      {"one_row_3x3", 1, 4, 1, 9, 16, 3, 3, 1, -1},
  };
  int bands = 0;
  for (const Case& c : cases)
    for (bool residual : {false, true}) {
      const Conv2dShape s = make_shape(c);
      const ConvInt8Params p = random_params(s, g, residual, OutputMode::Int8);
      std::vector<int8_t> w(static_cast<size_t>(s.K) * s.C * s.R * s.S);
      for (auto& v : w) v = static_cast<int8_t>(static_cast<int>(g() % 255) - 127);
      std::vector<int8_t> x(static_cast<size_t>(s.H) * s.W * s.C);
      for (auto& v : x) v = static_cast<int8_t>(g());
      std::vector<int8_t> res(static_cast<size_t>(s.P) * s.Q * s.K);
      for (auto& v : res) v = static_cast<int8_t>(g());
      const int64_t in_row = static_cast<int64_t>(s.W) * s.C, out_row = int64_t(s.Q) * s.K;
      for (Int8Kernel k : all_kernels()) {
        auto packed = int8::pack_conv_int8(p, w.data(), k);
        std::vector<int8_t> whole(static_cast<size_t>(s.P) * out_row);
        packed->run(1, x.data(), whole.data(), res.data());
        // Every band [p0, p1) with p1 - p0 in {1, 2, 5, P} (edges included).
        for (int len : {1, 2, 5, s.P})
          for (int p0 = 0; p0 < s.P; p0 += len) {
            const int p1 = std::min(s.P, p0 + len);
            const int lo = std::max(0, p0 * s.stride_h - s.pad_top);
            const int hi = std::min(s.H, (p1 - 1) * s.stride_h - s.pad_top + s.R);
            for (int spare : {0, 1}) {
              // The window: rows [lo - spare, hi + spare) clipped, copied out
              // so that reading outside it would read the 0x33 guard bytes.
              const int r0 = std::max(0, lo - spare), r1 = std::min(s.H, hi + spare);
              std::vector<int8_t> win((r1 - r0 + 2) * in_row, 0x33);
              std::copy(x.begin() + r0 * in_row, x.begin() + r1 * in_row, win.begin() + in_row);
              std::vector<int8_t> band((p1 - p0) * out_row, 0x5A);
              packed->run_rows(p0, p1, win.data() + in_row, r0, r1 - r0, band.data(),
                               res.data() + p0 * out_row);
              ++bands;
              EXPECT_TRUE(std::equal(band.begin(), band.end(), whole.begin() + p0 * out_row))
                  << c.name << (residual ? "/residual" : "") << " kernel "
                  << int8::int8_kernel_name(k) << " rows [" << p0 << ", " << p1 << ") window ["
                  << r0 << ", " << r1 << ")";
            }
          }
        // A window that misses a row the band reads is refused.
        if (s.P > 1) {
          const int hi = std::min(s.H, s.stride_h - s.pad_top + s.R);
          std::vector<int8_t> band(out_row);
          EXPECT_THROW(packed->run_rows(1, 2, x.data(), 0, std::max(0, hi - 1), band.data(),
                                        res.data() + out_row),
                       Error)
              << c.name;
        }
      }
    }
  std::printf("%d bands checked\n", bands);
}
