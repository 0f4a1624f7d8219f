// quant/: BN folding, per-channel weight quantization, bias, activation
// parameters, the calibration observer and every range chooser, including
// the degenerate tensors of docs/quantization.md (all-zero channel, constant activation).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/int8_api.h"
#include "quant/calibration.h"
#include "quant/quantize.h"

namespace {

using namespace ecg::quant;

bool finite_params(QParams p) {
  return std::isfinite(p.scale) && p.scale > 0.f && p.zero_point >= -128 && p.zero_point <= 127;
}

TEST(Quantize, QParamsRepresentZeroExactly) {
  for (auto lohi : std::vector<std::pair<float, float>>{
           {-1.f, 3.f}, {0.f, 6.f}, {-5.f, -1.f}, {2.f, 9.f}, {-0.3f, 0.1f}}) {
    const QParams p = choose_qparams(lohi.first, lohi.second);
    ASSERT_TRUE(finite_params(p));
    EXPECT_EQ(dequantize_value(quantize_value(0.f, p), p), 0.f);
    // The ends of the range are within half a step.
    EXPECT_NEAR(dequantize_value(quantize_value(lohi.second, p), p), lohi.second,
                0.5f * p.scale + 1e-6f);
  }
  EXPECT_EQ(choose_qparams(0.f, 6.f).zero_point, -128);  // ReLU output uses all 256 levels
}

// quantize_value rounds without the library call; it must give nearbyint's
// result (round half to even) everywhere: ties, both signs, near the 2^22
// switch-over, beyond it, and at random.
TEST(Quantize, RoundHalfEvenMatchesNearbyint) {
  std::vector<float> v;
  for (int i = -4000; i <= 4000; ++i) v.push_back(i * 0.25f);  // every tie of [-1000, 1000]
  for (float base : {4194304.f, 8388608.f, 16777216.f, 1e9f})
    for (float d : {-2.5f, -1.5f, -0.5f, 0.f, 0.5f, 1.5f, 2.5f}) {
      v.push_back(base + d);
      v.push_back(-base + d);
      v.push_back(std::nextafter(base, 0.f) + d);
    }
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> big(-1e6f, 1e6f), small(-300.f, 300.f);
  for (int i = 0; i < 200000; ++i) v.push_back(i % 2 ? big(rng) : small(rng));
  for (float x : v) ASSERT_EQ(ecg::quant::round_half_even(x), std::nearbyint(x)) << "x = " << x;
}

TEST(Quantize, DegenerateRangesGiveFiniteScales) {
  for (auto lohi : std::vector<std::pair<float, float>>{
           {0.f, 0.f}, {4.f, 4.f}, {-2.f, -2.f}, {NAN, 1.f}, {-INFINITY, INFINITY}}) {
    const QParams p = choose_qparams(lohi.first, lohi.second);
    EXPECT_TRUE(finite_params(p)) << lohi.first << " " << lohi.second;
  }
}

TEST(Quantize, PerChannelWeightsWithDeadChannel) {
  const int K = 3, per = 50;
  std::mt19937 g(1);
  std::normal_distribution<float> nd(0.f, 0.2f);
  std::vector<float> w(K * per);
  for (auto& v : w) v = nd(g);
  for (int i = 0; i < per; ++i) w[per + i] = 0.f;  // channel 1 all zero
  w[2 * per] = -3.f;                               // channel 2 outlier
  const QuantizedWeights q = quantize_weights_per_channel(w.data(), K, per);
  EXPECT_EQ(q.scale[1], 1.f);
  for (int k = 0; k < K; ++k) {
    ASSERT_TRUE(std::isfinite(q.scale[k]) && q.scale[k] > 0.f);
    for (int i = 0; i < per; ++i) {
      const int8_t v = q.q[k * per + i];
      EXPECT_GE(v, -127);
      EXPECT_NEAR(v * q.scale[k], w[k * per + i], 0.5f * q.scale[k] * 1.0001f);
    }
  }
  EXPECT_EQ(q.q[2 * per], -127);
}

TEST(Quantize, BatchNormFoldMatchesConvThenBn) {
  // Dense layer y = W x + b, then BN; the folded layer must agree.
  const int K = 4, in = 6;
  std::mt19937 g(2);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> w(K * in), b(K), gamma(K), beta(K), mean(K), var(K), x(in);
  for (auto& v : w) v = u(g);
  for (int k = 0; k < K; ++k) {
    b[k] = u(g);
    gamma[k] = 0.5f + u(g);
    beta[k] = u(g);
    mean[k] = u(g);
    var[k] = 0.1f + std::fabs(u(g));
  }
  for (auto& v : x) v = u(g);
  const float eps = 1e-3f;
  std::vector<float> want(K);
  for (int k = 0; k < K; ++k) {
    double y = b[k];
    for (int i = 0; i < in; ++i) y += w[k * in + i] * x[i];
    want[k] = static_cast<float>((y - mean[k]) / std::sqrt(var[k] + eps) * gamma[k] + beta[k]);
  }
  fold_batch_norm(K, in, w.data(), b.data(), gamma.data(), beta.data(), mean.data(), var.data(),
                  eps);
  for (int k = 0; k < K; ++k) {
    double y = b[k];
    for (int i = 0; i < in; ++i) y += w[k * in + i] * x[i];
    EXPECT_NEAR(y, want[k], 1e-5);
  }
}

TEST(Quantize, BiasAndMultipliers) {
  const float s_w[2] = {0.01f, 0.f};
  const float bias[2] = {1.f, 1.f};
  const auto qb = quantize_bias(bias, 2, 0.1f, s_w);
  EXPECT_EQ(qb[0], 1000);
  EXPECT_EQ(qb[1], 0);  // zero weight scale: no division by zero
  const float huge[1] = {1e30f};
  EXPECT_EQ(quantize_bias(huge, 1, 1e-3f, s_w)[0], INT32_MAX);
  const auto rq = requant_multipliers(1, 0.1f, s_w, 0.05f);
  EXPECT_EQ(ecg::int8::requant_round(1000, rq[0]), 20);  // 1000 * 0.02
}

TEST(Observer, HistogramIndependentOfOrder) {
  std::mt19937 g(3);
  std::normal_distribution<float> nd(0.f, 1.f);
  std::vector<float> x(20000);
  for (auto& v : x) v = nd(g);
  x[5] = 40.f;  // forces several range doublings mid-stream
  Observer a, b;
  a.observe(x.data(), x.size());
  for (int64_t i = static_cast<int64_t>(x.size()) - 1000; i >= 0; i -= 1000)
    b.observe(x.data() + i, 1000);
  EXPECT_EQ(a.range(), b.range());
  EXPECT_EQ(a.histogram(), b.histogram());
  EXPECT_EQ(a.count(), 20000);
  EXPECT_EQ(a.max(), 40.f);
  const float bad[3] = {NAN, INFINITY, 1.f};
  a.observe(bad, 3);
  EXPECT_EQ(a.count(), 20001);
}

std::vector<float> gaussian_with_outliers(int n, unsigned seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> nd(0.f, 1.f);
  std::vector<float> x(n);
  for (auto& v : x) v = nd(g);
  for (int i = 0; i < 5; ++i) x[i * 97] = 30.f + i;  // rare large activations
  return x;
}

TEST(Calibrate, ClippingMethodsBeatMinMaxWithOutliers) {
  const auto x = gaussian_with_outliers(200000, 4);
  Observer o;
  o.observe(x.data(), x.size());
  const double t_pct = threshold_percentile(o, 99.99);
  const double t_kl = threshold_kl(o);
  const double t_mse = threshold_mse(o);
  EXPECT_GT(t_pct, 3.0);
  EXPECT_LT(t_pct, 6.0);
  EXPECT_GT(t_kl, 2.0);
  EXPECT_LT(t_kl, 30.0);
  // MSE may keep the five outliers (each clipped one costs ~30^2, more than
  // the finer rounding saves over 200k values); it must stay within the max.
  EXPECT_GT(t_mse, 2.0);
  EXPECT_LE(t_mse, o.max());
  const double s_minmax = histogram_sqnr_db(o, choose_qparams(o.min(), o.max()));
  const double s_mse = histogram_sqnr_db(o, qparams_for_threshold(o, t_mse));
  EXPECT_GE(s_mse + 1e-9, s_minmax);
  // Auto keeps the best of the candidates by its score.
  CalibMethod chosen;
  const QParams pa = calibrate(o, CalibOptions{CalibMethod::Auto, 99.99}, nullptr, &chosen);
  EXPECT_NE(chosen, CalibMethod::Auto);
  for (CalibMethod m :
       {CalibMethod::MinMax, CalibMethod::Percentile, CalibMethod::KL, CalibMethod::MSE})
    EXPECT_GE(histogram_sqnr_db(o, pa) + 1e-9,
              histogram_sqnr_db(o, calibrate(o, CalibOptions{m, 99.99})))
        << calib_method_name(m);
}

TEST(Calibrate, NonNegativeTensorUsesFullRange) {
  std::mt19937 g(5);
  std::uniform_real_distribution<float> u(0.f, 6.f);
  std::vector<float> x(50000);
  for (auto& v : x) v = u(g);
  Observer o;
  o.observe(x.data(), x.size());
  ASSERT_TRUE(o.non_negative());
  for (CalibMethod m : {CalibMethod::MinMax, CalibMethod::Percentile, CalibMethod::KL,
                        CalibMethod::MSE, CalibMethod::Auto}) {
    const QParams p = calibrate(o, CalibOptions{m, 99.99});
    EXPECT_EQ(p.zero_point, -128) << calib_method_name(m);
    // A uniform distribution has nothing worth clipping.
    EXPECT_GT(p.scale * 255.f, 5.0f) << calib_method_name(m);
  }
}

TEST(Calibrate, DegenerateTensorsGiveFiniteScales) {
  std::vector<std::vector<float>> cases = {
      std::vector<float>(1000, 0.f),    // all zero
      std::vector<float>(1000, 2.5f),   // constant positive
      std::vector<float>(1000, -0.7f),  // constant negative
      {},                               // never observed
  };
  for (size_t c = 0; c < cases.size(); ++c) {
    Observer o;
    o.observe(cases[c].data(), cases[c].size());
    for (CalibMethod m : {CalibMethod::MinMax, CalibMethod::Percentile, CalibMethod::KL,
                          CalibMethod::MSE, CalibMethod::Auto}) {
      const QParams p = calibrate(o, CalibOptions{m, 99.9});
      EXPECT_TRUE(finite_params(p)) << "case " << c << " " << calib_method_name(m);
      if (!cases[c].empty()) {
        // The constant itself round-trips within half a step.
        const float v = cases[c][0];
        EXPECT_NEAR(dequantize_value(quantize_value(v, p), p), v, 0.5f * p.scale + 1e-6f);
      }
    }
  }
}

TEST(Quantize, LayoutRoundTrip) {
  const int N = 2, C = 3, H = 4, W = 5;
  std::vector<float> x(N * C * H * W), back(x.size());
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 17) * 0.1f - 0.5f;
  const QParams p = choose_qparams(-0.5f, 1.1f);
  std::vector<int8_t> q(x.size());
  quantize_nchw_to_nhwc(x.data(), N, C, H, W, p, q.data());
  // NHWC: channel fastest.
  EXPECT_EQ(q[1], quantize_value(x[H * W], p));
  dequantize_nhwc_to_nchw(q.data(), N, C, H, W, p, back.data());
  for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(back[i], x[i], 0.5f * p.scale + 1e-6f);
}

TEST(Quantize, SqnrAndCosine) {
  const float a[3] = {1.f, 2.f, 3.f}, b[3] = {1.f, 2.f, 3.1f}, z[3] = {0.f, 0.f, 0.f};
  EXPECT_NEAR(sqnr_db(a, b, 3), 10.0 * std::log10(14.0 / 0.01), 1e-3);
  EXPECT_EQ(sqnr_db(a, a, 3), 200.0);
  EXPECT_EQ(sqnr_db(z, a, 3), -200.0);
  EXPECT_NEAR(cosine_similarity(a, a, 3), 1.0, 1e-12);
  EXPECT_EQ(cosine_similarity(z, z, 3), 1.0);
  EXPECT_EQ(cosine_similarity(a, z, 3), 0.0);
}

}  // namespace
