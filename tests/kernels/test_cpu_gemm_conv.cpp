// SGEMM and convolution (forward, backward-data, backward-weights): every fast
// CPU variant against the double reference on odd shapes, stride 2,
// asymmetric padding, 1x1 and 11x11 kernels, batch 1 and 16.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/cpu/winograd_choice.h"
#include "kernels/ref/conv2d_ref.h"
#include "kernels/ref/gemm_ref.h"
#include "tests/kernels/kernel_test_util.h"

namespace ecg::test {
namespace {

// Float sums of L products of values in [-1, 1]: rounding grows at worst
// linearly in L with unit roundoff 6e-8; observed errors sit 5-20x below this.
constexpr double kGemmTolPerTermF32 = 1e-7;
constexpr double kConvFwdTolPerTermF32 = 1e-7;
constexpr double kConvBwdTolPerTermF32 = 1e-7;
constexpr double kRelTolF32 = 1e-5;  // a few ulps of the result itself

struct GemmCase {
  bool ta, tb;
  int M, N, K;
  float alpha, beta;
};

TEST(CpuSgemm, MatchesReference) {
  ThreadGuard guard;
  const GemmCase cases[] = {
      {false, false, 1, 1, 1, 1.f, 0.f},       {false, false, 7, 33, 5, 1.f, 0.f},
      {false, true, 37, 29, 300, 1.f, 1.f},    {true, false, 45, 70, 17, 0.5f, 2.f},
      {true, true, 19, 51, 23, -1.f, 0.f},     {false, false, 130, 517, 269, 1.f, 0.f},
      {false, false, 400, 61, 530, 1.f, 0.5f}, {false, false, 64, 64, 0, 1.f, 0.f},
  };
  for (int threads : thread_counts()) {
    set_num_threads(threads);
    for (const auto& c : cases) {
      const int lda = (c.ta ? c.M : c.K) + 3, ldb = (c.tb ? c.K : c.N) + 1, ldc = c.N + 2;
      auto A = random_vec(static_cast<size_t>(c.ta ? c.K : c.M) * lda, 1);
      auto B = random_vec(static_cast<size_t>(c.tb ? c.N : c.K) * ldb, 2);
      auto C0 = random_vec(static_cast<size_t>(c.M) * ldc, 3);
      std::vector<double> ref = to_double(C0);
      auto Ad = to_double(A), Bd = to_double(B);
      ref::gemm<double>(c.ta, c.tb, c.M, c.N, c.K, c.alpha, Ad.data(), lda, Bd.data(), ldb, c.beta,
                        ref.data(), ldc);
      for (Isa isa : fast_isas()) {
        auto fn = ops().sgemm.exact(DeviceType::CPU, isa);
        if (!fn) continue;
        std::vector<float> C = C0;
        if (c.beta == 0.f) std::fill(C.begin(), C.end(), NAN);  // beta 0 must ignore C
        fn(c.ta, c.tb, c.M, c.N, c.K, c.alpha, A.data(), lda, B.data(), ldb, c.beta, C.data(), ldc);
        // Padding columns of C beyond N keep their old values (NaN when beta is 0).
        std::vector<float> got;
        std::vector<double> want;
        for (int i = 0; i < c.M; ++i)
          for (int j = 0; j < c.N; ++j) {
            got.push_back(C[static_cast<size_t>(i) * ldc + j]);
            want.push_back(ref[static_cast<size_t>(i) * ldc + j]);
          }
        EXPECT_TRUE(all_near(std::string("sgemm ") + isa_name(isa) + " M" + std::to_string(c.M) +
                                 " N" + std::to_string(c.N) + " K" + std::to_string(c.K) +
                                 " threads " + std::to_string(threads),
                             got, want, kGemmTolPerTermF32 * (c.K + 4), kRelTolF32));
      }
    }
  }
}

struct ConvCase {
  const char* name;
  int N, C, H, W, K, R, S, sh, sw;
  int pt, pl, pb, pr;  // -1: TensorFlow "same"
};

Conv2dShape make_shape(const ConvCase& c) {
  Conv2dShape s;
  s.N = c.N, s.C = c.C, s.H = c.H, s.W = c.W, s.K = c.K, s.R = c.R, s.S = c.S;
  s.stride_h = c.sh, s.stride_w = c.sw;
  if (c.pt < 0) {
    tf_same_padding(c.H, c.R, c.sh, s.pad_top, s.pad_bottom);
    tf_same_padding(c.W, c.S, c.sw, s.pad_left, s.pad_right);
  } else {
    s.pad_top = c.pt, s.pad_left = c.pl, s.pad_bottom = c.pb, s.pad_right = c.pr;
  }
  conv2d_finalize(s);
  return s;
}

// Small versions of every layer type of the study plus awkward geometries.
const ConvCase kConvCases[] = {
    {"first_3ch_3x3_same", 1, 3, 13, 13, 5, 3, 3, 1, 1, -1, 0, 0, 0},
    {"first_3ch_batch16", 16, 3, 10, 9, 16, 3, 3, 1, 1, -1, 0, 0, 0},
    {"3x3_s2_same_asym", 2, 7, 12, 12, 19, 3, 3, 2, 2, -1, 0, 0, 0},
    {"3x3_s2_odd", 1, 9, 11, 13, 17, 3, 3, 2, 2, -1, 0, 0, 0},
    {"1x1_s1", 2, 17, 9, 10, 33, 1, 1, 1, 1, 0, 0, 0, 0},
    {"1x1_s2", 2, 5, 9, 10, 12, 1, 1, 2, 2, 0, 0, 0, 0},
    {"11x11_s4_valid", 1, 3, 27, 27, 7, 11, 11, 4, 4, 0, 0, 0, 0},
    {"11x11_s1_valid", 1, 5, 14, 13, 6, 11, 11, 1, 1, 0, 0, 0, 0},
    {"11x11_s1_valid_wide_rows", 2, 12, 20, 19, 9, 11, 11, 1, 1, 0, 0, 0, 0},
    {"3x3_s1_valid_deep", 2, 40, 9, 7, 12, 3, 3, 1, 1, 0, 0, 0, 0},
    {"3x3_asym_pad", 3, 20, 7, 6, 35, 3, 3, 1, 1, 2, 0, 0, 1},
    {"pad_beyond_kernel", 1, 4, 5, 5, 3, 3, 2, 1, 1, 3, 0, 1, 2},
    {"deep_kc_blocks", 1, 40, 15, 15, 70, 3, 3, 1, 1, -1, 0, 0, 0},
    {"rect_stride_2x1", 2, 6, 9, 8, 10, 3, 5, 2, 1, 1, 2, 1, 2},
    // Batch 1, stride 2, output wider than one col2im tile at any thread count.
    {"3x3_s2_wide_tiles", 1, 8, 64, 64, 4, 3, 3, 2, 2, -1, 0, 0, 0},
    // ResNet-11's stem and stage 0 at the golden test's size (batch 2, 32 px).
    {"resnet_stem", 2, 3, 32, 32, 16, 3, 3, 1, 1, -1, 0, 0, 0},
    {"resnet_s0_conv1", 2, 16, 32, 32, 16, 3, 3, 1, 1, -1, 0, 0, 0},
    {"resnet_s0_conv2", 2, 16, 32, 32, 64, 3, 3, 1, 1, -1, 0, 0, 0},
    {"resnet_s0_shortcut", 2, 16, 32, 32, 64, 1, 1, 1, 1, 0, 0, 0, 0},
    {"resnet_s0_b1_conv1", 2, 64, 32, 32, 16, 3, 3, 1, 1, -1, 0, 0, 0},
};

// One case's shape, sizes and random tensors (input, weights, bias, output
// gradient; seeds seed .. seed + 3).
struct ConvData {
  Conv2dShape s;
  size_t nx, nw, ny;
  std::vector<float> x, w, b, dy;
  ConvData(const ConvCase& cc, unsigned seed)
      : s(make_shape(cc)),
        nx(static_cast<size_t>(s.N) * s.C * s.H * s.W),
        nw(static_cast<size_t>(s.K) * s.C * s.R * s.S),
        ny(static_cast<size_t>(s.N) * s.K * s.P * s.Q),
        x(random_vec(nx, seed)),
        w(random_vec(nw, seed + 1)),
        b(random_vec(static_cast<size_t>(s.K), seed + 2)),
        dy(random_vec(ny, seed + 3)) {}
};

// These tests hold the direct algorithm to its 1e-7-per-term bound, so they
// pin ECG_WINOGRAD's "off" (kernels/cpu/winograd_choice.h); Winograd F(4,3)
// has its own tolerance and tests in test_winograd.cpp.
struct DirectConvGuard {
  DirectConvGuard() { cpu::set_winograd_mode(cpu::WinogradMode::Off); }
  ~DirectConvGuard() { cpu::reset_winograd_mode(); }
};

TEST(CpuConv2d, AllDirectionsMatchReference) {
  ThreadGuard guard;
  DirectConvGuard direct;
  for (const auto& cc : kConvCases) {
    const ConvData d(cc, 11);
    const auto& [s, nx, nw, ny, x, w, b, dy] = d;
    auto xd = to_double(x), wd = to_double(w), bd = to_double(b), dyd = to_double(dy);
    std::vector<double> y_ref(ny), dx_ref(nx), dw_ref(nw), db_ref(s.K);
    ref::conv2d_forward<double>(s, xd.data(), wd.data(), bd.data(), y_ref.data());
    ref::conv2d_backward_data<double>(s, dyd.data(), wd.data(), dx_ref.data());
    ref::conv2d_backward_weights<double>(s, xd.data(), dyd.data(), dw_ref.data(), db_ref.data());
    const double crs = static_cast<double>(s.C) * s.R * s.S;
    const double kpq = static_cast<double>(s.K) * s.R * s.S;
    const double npq = static_cast<double>(s.N) * s.P * s.Q;
    for (int threads : thread_counts()) {
      set_num_threads(threads);
      for (Isa isa : fast_isas()) {
        const std::string tag =
            std::string(cc.name) + " " + isa_name(isa) + " threads " + std::to_string(threads);
        if (auto fwd = ops().conv2d_forward.exact(DeviceType::CPU, isa)) {
          std::vector<float> y(ny, NAN);
          fwd(s, x.data(), w.data(), b.data(), y.data());
          EXPECT_TRUE(
              all_near("conv fwd " + tag, y, y_ref, kConvFwdTolPerTermF32 * (crs + 4), kRelTolF32));
          std::vector<double> y_nb(ny);
          ref::conv2d_forward<double>(s, xd.data(), wd.data(), nullptr, y_nb.data());
          fwd(s, x.data(), w.data(), nullptr, y.data());
          EXPECT_TRUE(all_near("conv fwd no bias " + tag, y, y_nb,
                               kConvFwdTolPerTermF32 * (crs + 4), kRelTolF32));
        }
        if (auto bwd = ops().conv2d_backward_data.exact(DeviceType::CPU, isa)) {
          std::vector<float> dx(nx, NAN);
          bwd(s, dy.data(), w.data(), dx.data());
          EXPECT_TRUE(all_near("conv bwd data " + tag, dx, dx_ref,
                               kConvBwdTolPerTermF32 * (kpq + 4), kRelTolF32));
        }
        if (auto bww = ops().conv2d_backward_weights.exact(DeviceType::CPU, isa)) {
          std::vector<float> dw(nw, NAN), db(s.K, NAN);
          bww(s, x.data(), dy.data(), dw.data(), db.data());
          EXPECT_TRUE(all_near("conv bwd weights " + tag, dw, dw_ref,
                               kConvBwdTolPerTermF32 * (npq + 4), kRelTolF32));
          EXPECT_TRUE(all_near("conv bwd bias " + tag, db, db_ref,
                               kConvBwdTolPerTermF32 * (npq + 4), kRelTolF32));
          bww(s, x.data(), dy.data(), dw.data(), nullptr);  // db may be null
          EXPECT_TRUE(all_near("conv bwd weights (no db) " + tag, dw, dw_ref,
                               kConvBwdTolPerTermF32 * (npq + 4), kRelTolF32));
        }
      }
    }
  }
}

// Determinism (docs/determinism.md): each direction gives the same bytes at
// any thread count, since the order of every sum is fixed by the shape.
TEST(CpuConv2d, SameBytesAtAnyThreadCount) {
  ThreadGuard guard;
  DirectConvGuard direct;
  for (const auto& cc : kConvCases) {
    const ConvData d(cc, 21);
    const auto& [s, nx, nw, ny, x, w, b, dy] = d;
    for (Isa isa : fast_isas()) {
      std::vector<float> y1, dx1, dw1, db1;
      for (int threads : {1, 2, 3, 4, 16}) {
        set_num_threads(threads);
        std::vector<float> y(ny), dx(nx), dw(nw), db(s.K);
        ops().conv2d_forward.exact(DeviceType::CPU, isa)(s, x.data(), w.data(), b.data(), y.data());
        ops().conv2d_backward_data.exact(DeviceType::CPU, isa)(s, dy.data(), w.data(), dx.data());
        ops().conv2d_backward_weights.exact(DeviceType::CPU, isa)(s, x.data(), dy.data(), dw.data(),
                                                                  db.data());
        if (threads == 1) {
          y1 = y, dx1 = dx, dw1 = dw, db1 = db;
          continue;
        }
        const std::string tag = std::string(cc.name) + " " + isa_name(isa) + " threads " +
                                std::to_string(threads) + " vs 1";
        EXPECT_EQ(std::memcmp(y.data(), y1.data(), ny * sizeof(float)), 0) << "fwd " << tag;
        EXPECT_EQ(std::memcmp(dx.data(), dx1.data(), nx * sizeof(float)), 0) << "bwd data " << tag;
        EXPECT_EQ(std::memcmp(dw.data(), dw1.data(), nw * sizeof(float)), 0) << "bwd w " << tag;
        EXPECT_EQ(std::memcmp(db.data(), db1.data(), s.K * sizeof(float)), 0) << "bwd b " << tag;
      }
    }
  }
}

}  // namespace
}  // namespace ecg::test

namespace ecg::test {
namespace {
// Guards against a silently empty comparison: every level this CPU supports
// must have registered every op (ECG_ISA forcing relies on it too).
TEST(CpuKernels, EveryVariantRegistered) {
  for (Isa isa : fast_isas()) {
#define ECG_CHECK_SLOT(op, Fn) \
  EXPECT_NE(ops().op.exact(DeviceType::CPU, isa), nullptr) << #op << " at " << isa_name(isa);
    ECG_OP_LIST(ECG_CHECK_SLOT)
#undef ECG_CHECK_SLOT
  }
  EXPECT_GE(fast_isas().size(), 1u);
}
}  // namespace
}  // namespace ecg::test
