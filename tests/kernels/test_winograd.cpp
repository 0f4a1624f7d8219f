// Winograd F(4,3) (kernels/cpu/winograd_impl.h) under every fast ISA level
// against the double scalar reference, forward and backward-data: every 3x3
// stride-1 shape of ResNet-11/20/29 and AlexNet's 3x3 valid layers at reduced
// spatial size, plus odd sizes. Also the mode switch and the cost model's
// geometry rules, and the per-layer accuracy table of bench/RESULTS.md.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "kernels/cpu/winograd_choice.h"
#include "kernels/ref/conv2d_ref.h"
#include "tests/kernels/kernel_test_util.h"

namespace ecg::test {
namespace {

using cpu::WinogradMode;

// Winograd's error is not that of a plain sum of C*9 products: the input
// transform multiplies patch values by up to 5 (B^T), the filter transform
// mixes taps with weights down to 1/24 (G), and the output transform scales
// by up to 8 and adds 6 terms (A^T), so the 36 GEMM sums carry several times
// the rounding of a direct sum before A^T amplifies it again; with few terms
// (C = 1-5, K = 1) the transforms' own rounding dominates. Bound per
// reduction term, the same form as the direct tests' 1e-7 * (C*9 + 4):
// measured worst |err| / (terms + 4) over every case below, every ISA and
// 1 and 3 threads: 5.4e-7 forward, 9.0e-7 backward-data (values in [-1, 1];
// the test prints it). The constant leaves a margin above 4, and a wrong
// transform coefficient or a misplaced tile gives errors of order 1.
constexpr double kWinogradTolPerTermF32 = 4e-6;
constexpr double kRelTolF32 = 1e-5;

struct WinoCase {
  const char* name;
  int N, C, H, W, K;
  int pt, pl, pb, pr;  // -1: TensorFlow "same" (pad 1 each side for 3x3)
};

const WinoCase kWinoCases[] = {
    // ResNet-11/20/29 3x3 stride-1 layers (stem, stages 0-2 conv1 of later
    // blocks and every conv2) at 20 px, 10 px and 5 px.
    {"resnet_stem", 2, 3, 20, 20, 16, -1, 0, 0, 0},
    {"resnet_s0_b0_conv1", 2, 16, 20, 20, 16, -1, 0, 0, 0},
    {"resnet_s0_conv2", 2, 16, 20, 20, 64, -1, 0, 0, 0},
    {"resnet_s0_b1_conv1", 1, 64, 20, 20, 16, -1, 0, 0, 0},
    {"resnet_s1_conv2", 2, 64, 10, 10, 128, -1, 0, 0, 0},
    {"resnet_s1_b1_conv1", 1, 128, 10, 10, 64, -1, 0, 0, 0},
    {"resnet_s2_conv2", 1, 128, 5, 5, 256, -1, 0, 0, 0},
    {"resnet_s2_b1_conv1", 1, 256, 5, 5, 128, -1, 0, 0, 0},
    // AlexNet conv3-5: 3x3 valid at 13 px in the study; 9 px here.
    {"alexnet_conv3", 1, 256, 9, 9, 384, 0, 0, 0, 0},
    {"alexnet_conv4", 1, 384, 9, 9, 384, 0, 0, 0, 0},
    {"alexnet_conv5", 2, 384, 9, 9, 256, 0, 0, 0, 0},
    // Odd sizes: 1x1 and 2x2 images, widths off the tile and SIMD widths,
    // batch 1 and 3, C = 3, K = 1, asymmetric and pad-2 geometries.
    {"image_1x1", 3, 5, 1, 1, 7, -1, 0, 0, 0},
    {"image_2x2", 1, 4, 2, 2, 3, -1, 0, 0, 0},
    {"image_3x3_valid", 3, 6, 3, 3, 5, 0, 0, 0, 0},
    {"width_odd", 3, 3, 7, 13, 1, -1, 0, 0, 0},
    {"width_37", 1, 9, 6, 37, 11, -1, 0, 0, 0},
    {"tall_narrow", 1, 7, 41, 3, 9, -1, 0, 0, 0},
    {"k1_c3", 3, 3, 9, 9, 1, -1, 0, 0, 0},
    {"asym_pad", 3, 20, 7, 6, 35, 2, 0, 0, 1},
    {"pad2_all", 1, 5, 6, 5, 4, 2, 2, 2, 2},
    {"many_tiles_edge_panel", 3, 8, 19, 23, 13, -1, 0, 0, 0},
    {"deep_kc_blocks", 1, 300, 6, 6, 70, -1, 0, 0, 0},
};

Conv2dShape make_shape(const WinoCase& c) {
  Conv2dShape s;
  s.N = c.N, s.C = c.C, s.H = c.H, s.W = c.W, s.K = c.K, s.R = 3, s.S = 3;
  if (c.pt < 0) {
    tf_same_padding(c.H, 3, 1, s.pad_top, s.pad_bottom);
    tf_same_padding(c.W, 3, 1, s.pad_left, s.pad_right);
  } else {
    s.pad_top = c.pt, s.pad_left = c.pl, s.pad_bottom = c.pb, s.pad_right = c.pr;
  }
  conv2d_finalize(s);
  return s;
}

// Restores ECG_WINOGRAD's mode and the thread count after a test.
struct ModeGuard {
  ~ModeGuard() {
    cpu::reset_winograd_mode();
    set_num_threads(0);
  }
};

struct WinoData {
  Conv2dShape s;
  size_t nx, nw, ny;
  std::vector<float> x, w, b, dy;
  WinoData(const WinoCase& c, unsigned seed)
      : s(make_shape(c)),
        nx(static_cast<size_t>(s.N) * s.C * s.H * s.W),
        nw(static_cast<size_t>(s.K) * s.C * 9),
        ny(static_cast<size_t>(s.N) * s.K * s.P * s.Q),
        x(random_vec(nx, seed)),
        w(random_vec(nw, seed + 1)),
        b(random_vec(static_cast<size_t>(s.K), seed + 2)),
        dy(random_vec(ny, seed + 3)) {}
};

double max_abs(const std::vector<double>& v) {
  double m = 0;
  for (double x : v) m = std::max(m, std::fabs(x));
  return m;
}

// Largest |got - ref| / per_term over all elements.
double worst_per_term(const std::vector<float>& got, const std::vector<double>& ref, double terms) {
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i)
    worst = std::max(worst, std::fabs(static_cast<double>(got[i]) - ref[i]) / terms);
  return worst;
}

TEST(Winograd, ForwardAndBackwardDataMatchReference) {
  ModeGuard guard;
  double worst_fwd = 0, worst_bwd = 0, worst_fwd_rel = 0, worst_bwd_rel = 0;
  cpu::set_winograd_mode(WinogradMode::On);
  for (const auto& wc : kWinoCases) {
    const WinoData d(wc, 31);
    const Conv2dShape& s = d.s;
    ASSERT_TRUE(cpu::winograd_geometry(s)) << wc.name;
    auto xd = to_double(d.x), wd = to_double(d.w), bd = to_double(d.b), dyd = to_double(d.dy);
    std::vector<double> y_ref(d.ny), dx_ref(d.nx);
    ref::conv2d_forward<double>(s, xd.data(), wd.data(), bd.data(), y_ref.data());
    ref::conv2d_backward_data<double>(s, dyd.data(), wd.data(), dx_ref.data());
    const double fwd_tol = kWinogradTolPerTermF32 * (s.C * 9.0 + 4);
    const double bwd_tol = kWinogradTolPerTermF32 * (s.K * 9.0 + 4);
    for (int threads : thread_counts()) {
      set_num_threads(threads);
      for (Isa isa : fast_isas()) {
        const std::string tag =
            std::string(wc.name) + " " + isa_name(isa) + " threads " + std::to_string(threads);
        EXPECT_STREQ(cpu::conv_algorithm_name(s, isa), "winograd-f43") << tag;
        std::vector<float> y(d.ny, NAN), dx(d.nx, NAN);
        ops().conv2d_forward.exact(DeviceType::CPU, isa)(s, d.x.data(), d.w.data(), d.b.data(),
                                                         y.data());
        EXPECT_TRUE(all_near("winograd fwd " + tag, y, y_ref, fwd_tol, kRelTolF32));
        worst_fwd = std::max(worst_fwd, worst_per_term(y, y_ref, s.C * 9.0 + 4));
        worst_fwd_rel = std::max(worst_fwd_rel, worst_per_term(y, y_ref, max_abs(y_ref)));
        ops().conv2d_backward_data.exact(DeviceType::CPU, isa)(s, d.dy.data(), d.w.data(),
                                                               dx.data());
        EXPECT_TRUE(all_near("winograd bwd data " + tag, dx, dx_ref, bwd_tol, kRelTolF32));
        worst_bwd = std::max(worst_bwd, worst_per_term(dx, dx_ref, s.K * 9.0 + 4));
        worst_bwd_rel = std::max(worst_bwd_rel, worst_per_term(dx, dx_ref, max_abs(dx_ref)));
      }
    }
  }
  std::printf(
      "Winograd worst |err| per term: forward %.3g, backward-data %.3g (bound %.3g); "
      "worst |err| / max |ref|: forward %.3g, backward-data %.3g\n",
      worst_fwd, worst_bwd, kWinogradTolPerTermF32, worst_fwd_rel, worst_bwd_rel);
}

// Winograd must give different bits from direct on a layer with many
// channels (otherwise the "on" switch silently ran the direct code).
TEST(Winograd, OnRunsAnotherAlgorithmThanOff) {
  ModeGuard guard;
  const WinoData d(kWinoCases[2], 41);
  for (Isa isa : fast_isas()) {
    std::vector<float> y_on(d.ny), y_off(d.ny);
    auto fwd = ops().conv2d_forward.exact(DeviceType::CPU, isa);
    cpu::set_winograd_mode(WinogradMode::On);
    fwd(d.s, d.x.data(), d.w.data(), d.b.data(), y_on.data());
    cpu::set_winograd_mode(WinogradMode::Off);
    EXPECT_STREQ(cpu::conv_algorithm_name(d.s, isa), "direct");
    fwd(d.s, d.x.data(), d.w.data(), d.b.data(), y_off.data());
    EXPECT_NE(std::memcmp(y_on.data(), y_off.data(), d.ny * sizeof(float)), 0) << isa_name(isa);
  }
}

// Determinism: the same bytes at any thread count (docs/determinism.md).
TEST(Winograd, SameBytesAtAnyThreadCount) {
  ModeGuard guard;
  cpu::set_winograd_mode(WinogradMode::On);
  for (const auto& wc : kWinoCases) {
    const WinoData d(wc, 51);
    for (Isa isa : fast_isas()) {
      std::vector<float> y1, dx1;
      for (int threads : {1, 2, 3, 16}) {
        set_num_threads(threads);
        std::vector<float> y(d.ny), dx(d.nx);
        ops().conv2d_forward.exact(DeviceType::CPU, isa)(d.s, d.x.data(), d.w.data(), d.b.data(),
                                                         y.data());
        ops().conv2d_backward_data.exact(DeviceType::CPU, isa)(d.s, d.dy.data(), d.w.data(),
                                                               dx.data());
        if (threads == 1) {
          y1 = y, dx1 = dx;
          continue;
        }
        const std::string tag = std::string(wc.name) + " " + isa_name(isa) + " threads " +
                                std::to_string(threads) + " vs 1";
        EXPECT_EQ(std::memcmp(y.data(), y1.data(), d.ny * sizeof(float)), 0) << "fwd " << tag;
        EXPECT_EQ(std::memcmp(dx.data(), dx1.data(), d.nx * sizeof(float)), 0) << "bwd " << tag;
      }
    }
  }
}

TEST(Winograd, ModeNamesAndGeometry) {
  ModeGuard guard;
  WinogradMode m;
  for (const char* name : {"auto", "on", "off", "measure"}) {
    ASSERT_TRUE(cpu::parse_winograd_mode(name, m)) << name;
    EXPECT_STREQ(cpu::winograd_mode_name(m), name);
  }
  EXPECT_FALSE(cpu::parse_winograd_mode("yes", m));
  cpu::set_winograd_mode(WinogradMode::On);
  Conv2dShape s = make_shape({"x", 1, 16, 12, 12, 16, -1, 0, 0, 0});
  for (Isa isa : fast_isas()) EXPECT_TRUE(cpu::use_winograd(s, isa));
  EXPECT_FALSE(cpu::use_winograd(s, Isa::Ref));  // the scalar reference stays direct
  Conv2dShape strided = s;
  strided.stride_h = strided.stride_w = 2;
  conv2d_finalize(strided);
  Conv2dShape five = s;
  five.R = five.S = 5;
  conv2d_finalize(five);
  Conv2dShape pad3 = s;
  pad3.pad_top = 3;
  conv2d_finalize(pad3);
  for (const Conv2dShape& other : {strided, five, pad3})
    for (Isa isa : fast_isas()) EXPECT_FALSE(cpu::use_winograd(other, isa));
  // auto: the cost model picks direct for AlexNet's 13 px conv4 (9 tiles per
  // image, a GEMM panel mostly padding, and 147k filters to transform per
  // image) and Winograd for a 64 -> 64 layer at 56 px (measured 2-3x).
  cpu::set_winograd_mode(WinogradMode::Auto);
  const Conv2dShape alex = make_shape({"conv4", 1, 384, 13, 13, 384, 0, 0, 0, 0});
  const Conv2dShape wide = make_shape({"wide", 1, 64, 56, 56, 64, -1, 0, 0, 0});
  for (Isa isa : fast_isas()) {
    EXPECT_FALSE(cpu::use_winograd(alex, isa)) << isa_name(isa);
    EXPECT_TRUE(cpu::use_winograd(wide, isa)) << isa_name(isa);
  }
}

// measure: the first call times both algorithms and records the faster for
// (shape, level, threads); every call's output is right either way.
TEST(Winograd, MeasureModeRecordsAChoice) {
  ModeGuard guard;
  cpu::set_winograd_mode(WinogradMode::Measure);
  const WinoData d(kWinoCases[4], 61);  // resnet_s1_conv2 at 10 px
  const Conv2dShape& s = d.s;
  auto xd = to_double(d.x), wd = to_double(d.w), bd = to_double(d.b), dyd = to_double(d.dy);
  std::vector<double> y_ref(d.ny), dx_ref(d.nx);
  ref::conv2d_forward<double>(s, xd.data(), wd.data(), bd.data(), y_ref.data());
  ref::conv2d_backward_data<double>(s, dyd.data(), wd.data(), dx_ref.data());
  set_num_threads(2);
  for (Isa isa : fast_isas()) {
    for (int call = 0; call < 2; ++call) {
      std::vector<float> y(d.ny, NAN), dx(d.nx, NAN);
      ops().conv2d_forward.exact(DeviceType::CPU, isa)(s, d.x.data(), d.w.data(), d.b.data(),
                                                       y.data());
      ops().conv2d_backward_data.exact(DeviceType::CPU, isa)(s, d.dy.data(), d.w.data(), dx.data());
      const std::string tag = std::string(isa_name(isa)) + " call " + std::to_string(call);
      EXPECT_TRUE(all_near("measured fwd " + tag, y, y_ref,
                           kWinogradTolPerTermF32 * (s.C * 9.0 + 4), kRelTolF32));
      EXPECT_TRUE(all_near("measured bwd data " + tag, dx, dx_ref,
                           kWinogradTolPerTermF32 * (s.K * 9.0 + 4), kRelTolF32));
      bool wino = false;
      EXPECT_TRUE(cpu::measured_choice(s, isa, wino)) << tag;
      EXPECT_TRUE(cpu::measured_choice(cpu::winograd_backward_data_shape(s), isa, wino)) << tag;
    }
  }
}

// auto must not depend on the batch size: data-parallel ranks run N / ranks
// images and are compared with a one-process run of N.
TEST(Winograd, AutoChoiceIndependentOfBatch) {
  ModeGuard guard;
  cpu::set_winograd_mode(WinogradMode::Auto);
  for (const auto& wc : kWinoCases)
    for (int size : {5, 13, 28, 56, 112, 224}) {
      WinoCase one = wc;
      one.N = 1, one.H = one.W = size;
      WinoCase many = one;
      many.N = 16;
      for (Isa isa : fast_isas())
        EXPECT_EQ(cpu::use_winograd(make_shape(one), isa), cpu::use_winograd(make_shape(many), isa))
            << wc.name << " at " << size << " px, " << isa_name(isa);
    }
}

}  // namespace
}  // namespace ecg::test
