// Int8 pools and add: semantics against real arithmetic (the reference rows
// are the implementation, so these tests check meaning, not just agreement).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "kernels/int8_api.h"
#include "kernels/ref/int8_ref.h"

namespace {

using namespace ecg;

// N x C x H x W input, a window x window window moving by stride, padded by
// pad_tl at the top and left and pad_br at the bottom and right (not finalized).
Pool2dShape square_pool(int N, int C, int H, int W, int window, int stride, int pad_tl,
                        int pad_br) {
  Pool2dShape s;
  s.N = N;
  s.C = C;
  s.H = H;
  s.W = W;
  s.R = s.S = window;
  s.stride_h = s.stride_w = stride;
  s.pad_top = s.pad_left = pad_tl;
  s.pad_bottom = s.pad_right = pad_br;
  return s;
}

TEST(PoolInt8, MaxPoolTakesInBoundsMaximum) {
  Pool2dShape s = square_pool(2, 5, 7, 9, 3, 2, 1, 1);
  ASSERT_TRUE(pool2d_finalize(s));
  std::mt19937 g(3);
  std::vector<int8_t> x(static_cast<size_t>(s.N) * s.H * s.W * s.C);
  for (auto& v : x) v = static_cast<int8_t>(static_cast<int>(g() % 256) - 128);
  std::vector<int8_t> y(static_cast<size_t>(s.N) * s.P * s.Q * s.C);
  int8::max_pool_int8(s, x.data(), y.data());
  for (int n = 0; n < s.N; ++n)
    for (int p = 0; p < s.P; ++p)
      for (int q = 0; q < s.Q; ++q)
        for (int c = 0; c < s.C; ++c) {
          int best = -1000;
          for (int h = p * 2 - 1; h <= p * 2 + 1; ++h)
            for (int w = q * 2 - 1; w <= q * 2 + 1; ++w)
              if (h >= 0 && h < s.H && w >= 0 && w < s.W)
                best = std::max<int>(best, x[((n * s.H + h) * s.W + w) * s.C + c]);
          EXPECT_EQ(y[((n * s.P + p) * s.Q + q) * s.C + c], best);
        }
}

TEST(PoolInt8, AveragePoolIsRoundedMeanWithPartialWindows) {
  Pool2dShape s = square_pool(1, 3, 10, 11, 4, 3, 0, 2);  // partial windows at the bottom/right
  ASSERT_TRUE(pool2d_finalize(s));
  const double s_in = 0.02, s_out = 0.015;
  const int32_t zp_in = -7, zp_out = 4;
  const auto prm = int8::make_avg_pool_int8(s, s_in, zp_in, s_out, zp_out);
  std::mt19937 g(4);
  std::vector<int8_t> x(static_cast<size_t>(s.H) * s.W * s.C);
  for (auto& v : x) v = static_cast<int8_t>(static_cast<int>(g() % 200) - 100);
  std::vector<int8_t> y(static_cast<size_t>(s.P) * s.Q * s.C);
  int8::avg_pool_int8(prm, x.data(), y.data());
  for (int p = 0; p < s.P; ++p)
    for (int q = 0; q < s.Q; ++q)
      for (int c = 0; c < s.C; ++c) {
        double sum = 0;
        int count = 0;
        for (int h = p * 3; h < p * 3 + 4; ++h)
          for (int w = q * 3; w < q * 3 + 4; ++w)
            if (h < s.H && w < s.W) {
              sum += x[(h * s.W + w) * s.C + c] - zp_in;
              ++count;
            }
        const double real = zp_out + sum / count * s_in / s_out;
        const double want = std::min(127.0, std::max(-128.0, std::floor(real + 0.5)));
        // Exact ties (sum/12 = k + 1/2 here) may go either way: the fixed-point
        // multiplier of 4/3 is not exact, just as the double one is not.
        const bool tie = std::fabs(real - std::floor(real) - 0.5) < 1e-6;
        EXPECT_NEAR(y[(p * s.Q + q) * s.C + c], want, tie ? 1.0 : 0.0) << p << " " << q << " " << c;
      }
}

TEST(PoolInt8, ConstantInputGivesFiniteZeroPoint) {
  Pool2dShape s;
  s.C = 4;
  s.H = s.W = 8;
  s.R = s.S = 8;
  s.stride_h = s.stride_w = 8;
  ASSERT_TRUE(pool2d_finalize(s));
  const auto prm = int8::make_avg_pool_int8(s, 0.1, 12, 0.1, -3);
  std::vector<int8_t> x(8 * 8 * 4, 12), y(4);
  int8::avg_pool_int8(prm, x.data(), y.data());
  for (int8_t v : y) EXPECT_EQ(v, -3);
  // A zero output scale (degenerate calibration) must not produce inf/UB.
  const auto bad = int8::make_avg_pool_int8(s, 0.1, 12, 0.0, -3);
  int8::avg_pool_int8(bad, x.data(), y.data());
  for (int8_t v : y) EXPECT_EQ(v, -3);
}

TEST(AddInt8, MatchesScalarRule) {
  std::mt19937 g(6);
  const auto p = int8::make_add_requant(0.03, 5, 0.05, -9, 0.06, 2, 2, 127);
  std::vector<int8_t> a(1001), b(1001), y(1001);
  for (auto& v : a) v = static_cast<int8_t>(g());
  for (auto& v : b) v = static_cast<int8_t>(g());
  int8::add_int8(1001, a.data(), b.data(), p, y.data());
  for (int i = 0; i < 1001; ++i) EXPECT_EQ(y[i], int8::add_requantize(a[i], b[i], p));
}

}  // namespace
