// Memory-bound CPU kernels and the dense layer: every fast variant against the
// double reference. Sizes straddle the threshold where kernels go parallel.
#include <cmath>
#include <cstdint>

#include "kernels/ref/batch_norm_ref.h"
#include "kernels/ref/elementwise_ref.h"
#include "kernels/ref/linear_ref.h"
#include "kernels/ref/loss_ref.h"
#include "kernels/ref/optimizer_ref.h"
#include "kernels/ref/pool_ref.h"
#include "tests/kernels/kernel_test_util.h"

namespace ecg::test {
namespace {

// Elementwise results are exact or one rounding away.
constexpr double kElementwiseTolF32 = 1e-6;
// Batch norm: float sums over N*HW values (per-plane partial sums folded in double).
constexpr double kBatchNormTolF32 = 2e-5;
// Pool averages: at most R*S float additions.
constexpr double kPoolTolF32 = 1e-6;
// Dense layer: float dot products of length in (or N); per term like SGEMM.
constexpr double kLinearTolPerTermF32 = 1e-7;
// Softmax: exp/log in float.
constexpr double kSoftmaxTolF32 = 2e-6;
// Adam divides by sqrt(v)+eps where v is tiny: relative error of a few ulps
// of the step, which is lr-sized.
constexpr double kOptimizerTolF32 = 1e-6;
constexpr double kRelTolF32 = 1e-5;

std::string tag(const char* op, Isa isa, int threads) {
  return std::string(op) + " " + isa_name(isa) + " threads " + std::to_string(threads);
}

template <class F>
void for_each_variant(F body) {
  ThreadGuard guard;
  for (int threads : thread_counts()) {
    set_num_threads(threads);
    for (Isa isa : fast_isas()) body(isa, threads);
  }
}

TEST(CpuElementwise, ReluAddDropout) {
  for (int64_t n : {int64_t(1), int64_t(37), int64_t(70001)}) {
    auto x = random_vec(n, 1), y = random_vec(n, 2), g = random_vec(n, 3);
    std::vector<uint8_t> mask(n);
    for (int64_t i = 0; i < n; ++i) mask[i] = (i * 7 + 3) % 5 < 3;
    auto xd = to_double(x), yd = to_double(y), gd = to_double(g);
    std::vector<double> r1(n), r2(n), r3(n), r4(n);
    ref::relu_forward<double>(n, xd.data(), r1.data());
    ref::relu_backward<double>(n, yd.data(), gd.data(), r2.data());
    ref::add_forward<double>(n, xd.data(), yd.data(), r3.data());
    ref::dropout_forward<double>(n, xd.data(), mask.data(), 2.0, r4.data());
    for_each_variant([&](Isa isa, int threads) {
      std::vector<float> out(n);
      if (auto f = ops().relu_forward.exact(DeviceType::CPU, isa)) {
        f(n, x.data(), out.data());
        EXPECT_TRUE(all_near(tag("relu fwd", isa, threads), out, r1, kElementwiseTolF32, 0));
      }
      if (auto f = ops().relu_backward.exact(DeviceType::CPU, isa)) {
        f(n, y.data(), g.data(), out.data());
        EXPECT_TRUE(all_near(tag("relu bwd", isa, threads), out, r2, kElementwiseTolF32, 0));
      }
      if (auto f = ops().add_forward.exact(DeviceType::CPU, isa)) {
        f(n, x.data(), y.data(), out.data());
        EXPECT_TRUE(all_near(tag("add", isa, threads), out, r3, kElementwiseTolF32, 0));
      }
      if (auto f = ops().dropout_forward.exact(DeviceType::CPU, isa)) {
        f(n, x.data(), mask.data(), 2.f, out.data());
        EXPECT_TRUE(all_near(tag("dropout", isa, threads), out, r4, kElementwiseTolF32, 0));
      }
    });
  }
}

TEST(CpuElementwise, LeakyRelu) {
  const float slope = 0.1f;
  for (int64_t n : {int64_t(1), int64_t(37), int64_t(70001)}) {
    auto x = random_vec(n, 4), g = random_vec(n, 5);
    auto xd = to_double(x), gd = to_double(g);
    std::vector<double> fwd(n), bwd(n);
    ref::leaky_relu_forward<double>(n, xd.data(), slope, fwd.data());
    ref::leaky_relu_backward<double>(n, xd.data(), gd.data(), slope, bwd.data());
    for_each_variant([&](Isa isa, int threads) {
      std::vector<float> out(n);
      if (auto f = ops().leaky_relu_forward.exact(DeviceType::CPU, isa)) {
        f(n, x.data(), slope, out.data());
        EXPECT_TRUE(all_near(tag("leaky_relu fwd", isa, threads), out, fwd, kElementwiseTolF32, 0));
      }
      if (auto f = ops().leaky_relu_backward.exact(DeviceType::CPU, isa)) {
        f(n, x.data(), g.data(), slope, out.data());
        EXPECT_TRUE(all_near(tag("leaky_relu bwd", isa, threads), out, bwd, kElementwiseTolF32, 0));
      }
    });
  }
}

TEST(CpuBatchNorm, TrainEvalBackward) {
  const BatchNormShape shapes[] = {{1, 3, 7}, {16, 5, 529}, {2, 17, 1}, {4, 3, 3001}};
  for (const auto& s : shapes) {
    const size_t n = static_cast<size_t>(s.N) * s.C * s.HW;
    // Offset data: statistics must not cancel catastrophically.
    auto x = random_vec(n, 4, 2.f, 4.f), dy = random_vec(n, 5);
    auto gamma = random_vec(s.C, 6, 0.5f, 1.5f), beta = random_vec(s.C, 7);
    auto rm = random_vec(s.C, 8), rv = random_vec(s.C, 9, 0.5f, 2.f);
    auto xd = to_double(x), dyd = to_double(dy), gd = to_double(gamma), bd = to_double(beta);
    auto rmd = to_double(rm), rvd = to_double(rv);
    for (bool relu : {false, true}) {
      std::vector<double> y(n), mean(s.C), invstd(s.C), var(s.C), ye(n), dx(n), dg(s.C), db(s.C);
      ref::batch_norm_forward_train<double>(s, xd.data(), gd.data(), bd.data(), 1e-3, relu,
                                            y.data(), mean.data(), invstd.data(), var.data());
      ref::batch_norm_forward_eval<double>(s, xd.data(), gd.data(), bd.data(), rmd.data(),
                                           rvd.data(), 1e-3, relu, ye.data());
      // Backward from the float forward's saved statistics, as training does.
      std::vector<float> yf(y.begin(), y.end()), mf(mean.begin(), mean.end()),
          isf(invstd.begin(), invstd.end());
      ref::batch_norm_backward<double>(s, xd.data(), y.data(), dyd.data(), gd.data(), mean.data(),
                                       invstd.data(), relu, dx.data(), dg.data(), db.data());
      for_each_variant([&](Isa isa, int threads) {
        const std::string t = tag(relu ? "bn+relu" : "bn", isa, threads) + " N" +
                              std::to_string(s.N) + " C" + std::to_string(s.C) + " HW" +
                              std::to_string(s.HW);
        if (auto f = ops().batch_norm_forward_train.exact(DeviceType::CPU, isa)) {
          std::vector<float> o(n), m(s.C), is(s.C), v(s.C);
          f(s, x.data(), gamma.data(), beta.data(), 1e-3f, relu, o.data(), m.data(), is.data(),
            v.data());
          EXPECT_TRUE(all_near("train y " + t, o, y, kBatchNormTolF32, kRelTolF32));
          EXPECT_TRUE(all_near("train mean " + t, m, mean, kBatchNormTolF32, kRelTolF32));
          EXPECT_TRUE(all_near("train invstd " + t, is, invstd, kBatchNormTolF32, kRelTolF32));
          EXPECT_TRUE(all_near("train var " + t, v, var, kBatchNormTolF32, kRelTolF32));
        }
        if (auto f = ops().batch_norm_forward_eval.exact(DeviceType::CPU, isa)) {
          std::vector<float> o(n);
          f(s, x.data(), gamma.data(), beta.data(), rm.data(), rv.data(), 1e-3f, relu, o.data());
          EXPECT_TRUE(all_near("eval y " + t, o, ye, kBatchNormTolF32, kRelTolF32));
        }
        if (auto f = ops().batch_norm_backward.exact(DeviceType::CPU, isa)) {
          std::vector<float> o(n), g1(s.C), b1(s.C);
          f(s, x.data(), yf.data(), dy.data(), gamma.data(), mf.data(), isf.data(), relu, o.data(),
            g1.data(), b1.data());
          const double m = static_cast<double>(s.N) * s.HW;
          EXPECT_TRUE(all_near("bwd dx " + t, o, dx, kBatchNormTolF32, 1e-4));
          EXPECT_TRUE(all_near("bwd dgamma " + t, g1, dg, kBatchNormTolF32 * m, 1e-4));
          EXPECT_TRUE(all_near("bwd dbeta " + t, b1, db, kBatchNormTolF32 * m, 1e-4));
        }
      });
    }
  }
}

TEST(CpuPool, MaxAvgGlobal) {
  struct P {
    int N, C, H, W, R, S, sh, sw, pt, pl, pb, pr;
  };
  const P cases[] = {{1, 3, 9, 7, 2, 2, 2, 2, 0, 0, 0, 0},
                     {2, 5, 11, 12, 3, 3, 2, 2, 0, 1, 1, 0},
                     {16, 3, 56, 56, 8, 8, 8, 8, 0, 0, 0, 0},
                     {1, 2, 8, 8, 3, 3, 1, 1, 1, 1, 1, 1},
                     {3, 4, 27, 27, 2, 2, 2, 2, 0, 0, 0, 0}};
  for (const auto& c : cases) {
    Pool2dShape s;
    s.N = c.N, s.C = c.C, s.H = c.H, s.W = c.W, s.R = c.R, s.S = c.S, s.stride_h = c.sh,
    s.stride_w = c.sw, s.pad_top = c.pt, s.pad_left = c.pl, s.pad_bottom = c.pb, s.pad_right = c.pr;
    pool2d_finalize(s);
    const size_t nx = static_cast<size_t>(s.N) * s.C * s.H * s.W;
    const size_t ny = static_cast<size_t>(s.N) * s.C * s.P * s.Q;
    auto x = random_vec(nx, 21), dy = random_vec(ny, 22);
    auto xd = to_double(x), dyd = to_double(dy);
    std::vector<double> ymax(ny), yavg(ny), dxmax(nx), dxavg(nx);
    std::vector<int32_t> amax(ny);
    ref::max_pool_forward<double>(s, xd.data(), ymax.data(), amax.data());
    ref::max_pool_backward<double>(s, dyd.data(), amax.data(), dxmax.data());
    ref::avg_pool_forward<double>(s, xd.data(), yavg.data());
    ref::avg_pool_backward<double>(s, dyd.data(), dxavg.data());
    const int HW = s.H * s.W;
    std::vector<double> gap(static_cast<size_t>(s.N) * s.C), gapb(nx);
    ref::global_avg_pool_forward<double>(s.N, s.C, HW, xd.data(), gap.data());
    ref::global_avg_pool_backward<double>(s.N, s.C, HW, dyd.data(), gapb.data());
    for_each_variant([&](Isa isa, int threads) {
      const std::string t = tag("pool", isa, threads) + " " + std::to_string(s.H) + "x" +
                            std::to_string(s.W) + " k" + std::to_string(s.R);
      if (auto f = ops().max_pool_forward.exact(DeviceType::CPU, isa)) {
        std::vector<float> y(ny);
        std::vector<int32_t> a(ny);
        f(s, x.data(), y.data(), a.data());
        EXPECT_TRUE(all_near("max fwd " + t, y, ymax, 0, 0));
        EXPECT_EQ(a, amax) << "max argmax " << t;
      }
      if (auto f = ops().max_pool_backward.exact(DeviceType::CPU, isa)) {
        std::vector<float> dx(nx, NAN);
        f(s, dy.data(), amax.data(), dx.data());
        EXPECT_TRUE(all_near("max bwd " + t, dx, dxmax, kPoolTolF32, kRelTolF32));
      }
      if (auto f = ops().avg_pool_forward.exact(DeviceType::CPU, isa)) {
        std::vector<float> y(ny);
        f(s, x.data(), y.data());
        EXPECT_TRUE(all_near("avg fwd " + t, y, yavg, kPoolTolF32, kRelTolF32));
      }
      if (auto f = ops().avg_pool_backward.exact(DeviceType::CPU, isa)) {
        std::vector<float> dx(nx, NAN);
        f(s, dy.data(), dx.data());
        EXPECT_TRUE(all_near("avg bwd " + t, dx, dxavg, kPoolTolF32, kRelTolF32));
      }
      if (auto f = ops().global_avg_pool_forward.exact(DeviceType::CPU, isa)) {
        std::vector<float> y(gap.size());
        f(s.N, s.C, HW, x.data(), y.data());
        EXPECT_TRUE(all_near("gap fwd " + t, y, gap, kPoolTolF32, kRelTolF32));
      }
      if (auto f = ops().global_avg_pool_backward.exact(DeviceType::CPU, isa)) {
        std::vector<float> dx(nx);
        f(s.N, s.C, HW, dy.data(), dx.data());  // dy's first N*C values act as the gradient
        EXPECT_TRUE(all_near("gap bwd " + t, dx, gapb, kPoolTolF32, kRelTolF32));
      }
    });
  }
}

TEST(CpuLinear, ForwardBackward) {
  struct L {
    int N, in, out;
  };
  for (const L& c : {L{1, 7, 3}, L{16, 12544, 4}, L{16, 256, 512}, L{5, 33, 17}}) {
    auto x = random_vec(static_cast<size_t>(c.N) * c.in, 31);
    auto w = random_vec(static_cast<size_t>(c.out) * c.in, 32);
    auto b = random_vec(c.out, 33), dy = random_vec(static_cast<size_t>(c.N) * c.out, 34);
    auto xd = to_double(x), wd = to_double(w), bd = to_double(b), dyd = to_double(dy);
    std::vector<double> y(static_cast<size_t>(c.N) * c.out), dx(x.size()), dw(w.size()), db(c.out);
    ref::linear_forward<double>(c.N, c.in, c.out, xd.data(), wd.data(), bd.data(), y.data());
    ref::linear_backward_data<double>(c.N, c.in, c.out, dyd.data(), wd.data(), dx.data());
    ref::linear_backward_weights<double>(c.N, c.in, c.out, xd.data(), dyd.data(), dw.data(),
                                         db.data());
    for_each_variant([&](Isa isa, int threads) {
      const std::string t = tag("linear", isa, threads) + " " + std::to_string(c.N) + "x" +
                            std::to_string(c.in) + "->" + std::to_string(c.out);
      if (auto f = ops().linear_forward.exact(DeviceType::CPU, isa)) {
        std::vector<float> o(y.size(), NAN);
        f(c.N, c.in, c.out, x.data(), w.data(), b.data(), o.data());
        EXPECT_TRUE(all_near("fwd " + t, o, y, kLinearTolPerTermF32 * (c.in + 4), kRelTolF32));
      }
      if (auto f = ops().linear_backward_data.exact(DeviceType::CPU, isa)) {
        std::vector<float> o(dx.size(), NAN);
        f(c.N, c.in, c.out, dy.data(), w.data(), o.data());
        EXPECT_TRUE(
            all_near("bwd data " + t, o, dx, kLinearTolPerTermF32 * (c.out + 4), kRelTolF32));
      }
      if (auto f = ops().linear_backward_weights.exact(DeviceType::CPU, isa)) {
        std::vector<float> o(dw.size(), NAN), ob(c.out, NAN);
        f(c.N, c.in, c.out, x.data(), dy.data(), o.data(), ob.data());
        EXPECT_TRUE(all_near("bwd w " + t, o, dw, kLinearTolPerTermF32 * (c.N + 4), kRelTolF32));
        EXPECT_TRUE(all_near("bwd b " + t, ob, db, kLinearTolPerTermF32 * (c.N + 4), kRelTolF32));
      }
    });
  }
}

TEST(CpuLoss, SoftmaxCrossEntropy) {
  const int N = 16, K = 4;
  auto z = random_vec(N * K, 41, -30.f, 30.f);
  std::vector<float> t(N * K, 0.f), cw = {1.f, 2.f, 0.5f, 1.5f};
  for (int n = 0; n < N; ++n) t[n * K + n % K] = 1.f;
  auto zd = to_double(z), td = to_double(t), cwd = to_double(cw);
  for (bool weighted : {false, true}) {
    std::vector<double> probs(N * K), dz(N * K);
    double loss = ref::softmax_cross_entropy_forward<double>(
        N, K, zd.data(), td.data(), weighted ? cwd.data() : nullptr, probs.data());
    ref::softmax_cross_entropy_backward<double>(N, K, probs.data(), td.data(),
                                                weighted ? cwd.data() : nullptr, 0.7, dz.data());
    for_each_variant([&](Isa isa, int threads) {
      const std::string tg = tag(weighted ? "softmax-ce weighted" : "softmax-ce", isa, threads);
      std::vector<float> p(N * K), d(N * K);
      if (auto f = ops().softmax_cross_entropy_forward.exact(DeviceType::CPU, isa)) {
        float l = f(N, K, z.data(), t.data(), weighted ? cw.data() : nullptr, p.data());
        EXPECT_NEAR(l, loss, kSoftmaxTolF32 * (1 + std::fabs(loss))) << tg;
        EXPECT_TRUE(all_near("probs " + tg, p, probs, kSoftmaxTolF32, kRelTolF32));
      }
      if (auto f = ops().softmax_cross_entropy_backward.exact(DeviceType::CPU, isa)) {
        std::vector<float> pf(probs.begin(), probs.end());
        f(N, K, pf.data(), t.data(), weighted ? cw.data() : nullptr, 0.7f, d.data());
        EXPECT_TRUE(all_near("dlogits " + tg, d, dz, kSoftmaxTolF32, kRelTolF32));
      }
    });
  }
}

TEST(CpuOptimizer, AdamAndSgd) {
  const int64_t n = 40003;
  auto p0 = random_vec(n, 51), g = random_vec(n, 52), m0 = random_vec(n, 53, -0.1f, 0.1f),
       v0 = random_vec(n, 54, 0.f, 0.01f);
  auto gd = to_double(g);
  for (int variant = 0; variant < 4; ++variant) {
    AdamParams ap;
    ap.step = 3 + variant;
    ap.keras_eps = variant % 2 == 0;
    ap.weight_decay = variant >= 2 ? 0.01f : 0.f;
    ap.decoupled = variant == 3;
    auto pd = to_double(p0), md = to_double(m0), vd = to_double(v0);
    ref::adam_update<double>(n, ap, pd.data(), gd.data(), md.data(), vd.data());
    for_each_variant([&](Isa isa, int threads) {
      auto f = ops().adam_update.exact(DeviceType::CPU, isa);
      if (!f) return;
      auto p = p0, m = m0, v = v0;
      f(n, ap, p.data(), g.data(), m.data(), v.data());
      const std::string t = tag("adam", isa, threads) + " variant " + std::to_string(variant);
      EXPECT_TRUE(all_near("param " + t, p, pd, kOptimizerTolF32, kRelTolF32));
      EXPECT_TRUE(all_near("m " + t, m, md, kOptimizerTolF32, kRelTolF32));
      EXPECT_TRUE(all_near("v " + t, v, vd, kOptimizerTolF32, kRelTolF32));
    });
  }
  for (int variant = 0; variant < 4; ++variant) {
    SgdParams sp;
    sp.momentum = variant == 0 ? 0.f : 0.9f;
    sp.nesterov = variant == 2;
    sp.first_step = variant == 3;
    sp.weight_decay = 1e-3f;
    sp.dampening = variant == 1 ? 0.1f : 0.f;
    auto pd = to_double(p0), bd = to_double(m0);
    ref::sgd_update<double>(n, sp, pd.data(), gd.data(), bd.data());
    for_each_variant([&](Isa isa, int threads) {
      auto f = ops().sgd_update.exact(DeviceType::CPU, isa);
      if (!f) return;
      auto p = p0, b = m0;
      f(n, sp, p.data(), g.data(), b.data());
      const std::string t = tag("sgd", isa, threads) + " variant " + std::to_string(variant);
      EXPECT_TRUE(all_near("param " + t, p, pd, kOptimizerTolF32, kRelTolF32));
      if (sp.momentum != 0.f) {
        EXPECT_TRUE(all_near("buf " + t, b, bd, kOptimizerTolF32, kRelTolF32));
      }
    });
  }
}

}  // namespace
}  // namespace ecg::test
