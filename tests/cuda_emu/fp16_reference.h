// Double reference of the FP16 convolution and dense kernels
// (kernels/cuda/conv_fp16.cuh) with the per-element error bound they must
// meet; shared by the kernel test (test_conv_fp16.cpp) and the FP16 runner's
// layer-by-layer test (test_engine_fp16.cpp).
//
// Tolerance of a convolution output (derived, per element; u = 2^-11 is the
// unit roundoff of half, 2^-24 that of float; L = 16 channel pairs per K step,
// i.e. terms per half2 lane between two folds; `steps` = K steps of the
// reduction; S = sum over the reduction of |x * q * s_w|; b the bias, r the
// residual, y the exact pre-ReLU output):
//   - the staged weights q * 2^-e are exact, every product in __hfma2 is exact;
//   - a lane adds its L products with L roundings, and the fold adds the two
//     lanes in half once more: at most (L + 1) u times that step's sum of
//     |products| (each partial sum is bounded by it), plus 2^-25 per rounding
//     if a partial sum is subnormal (the half spacing there is 2^-24): in all
//     (L + 1) u S + m steps (L + 1) 2^-25, where m = s_w 2^e is the float
//     remainder of the scale (the weights are staged in units of 2^-e);
//   - float: one add per fold, the scale-and-bias (one or two roundings) and
//     the residual add, each within 2^-24 of |values| <= S + |b| + |r|:
//     (steps + 4) 2^-24 (S + |b| + |r|);
//   - the final rounding to half: u |y'| + 2^-25 with |y'| <= |y| + E, where
//     E is the sum of the two items above (a ReLU does not increase any of it).
//   bound = u |y| + 2^-25 + (1 + u) E, E = (L + 1) u S + m steps (L + 1) 2^-25
//           + (steps + 4) 2^-24 (S + |b| + |r|).
// The dense kernel sums exact float products in float (2 ceil(C / 64) adds per
// lane, then a 5-level shuffle tree): (2 ceil(C / 64) + 5) 2^-24 S replaces the
// two half terms; float logits skip the last rounding.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/cuda/conv_fp16_pack.h"
#include "kernels/kernel_api.h"
#include "kernels/window_taps.h"

namespace ecg::cuda_emu::testing {

constexpr double kHalfUnitRoundoff = 1.0 / 2048;       // 2^-11
constexpr double kHalfSubnormalHalfSpacing = 0x1p-25;  // half of the subnormal spacing 2^-24
constexpr double kFp16FloatRoundoff = 1.0 / (1 << 24);
constexpr double kLanePairs = ::ecg::cuda::kConvFp16StepPairs;

struct Fp16Reference {
  std::vector<double> y, bound;
};

// Double reference and per-element bound (above) of one convolution or dense
// layer: w OIHW int8, s_w its scales, bias real, x the half input values
// (NHWC), res the half residual values (NPQK) when `residual`.
inline Fp16Reference fp16_conv_reference(const Conv2dShape& s, bool relu, bool residual,
                                         bool out_float, const int8_t* w, const float* s_w,
                                         const float* bias, const std::vector<double>& x,
                                         const std::vector<double>& res) {
  const bool dense = s.H == 1 && s.W == 1 && s.R == 1 && s.S == 1;
  const int Cp = (s.C + 3) / 4 * 4;
  const double steps = std::ceil(s.R * s.S * Cp / 2.0 / kLanePairs);
  const double u = kHalfUnitRoundoff, f = kFp16FloatRoundoff;
  Fp16Reference out;
  for (int n = 0; n < s.N; ++n)
    for (int p = 0; p < s.P; ++p)
      for (int q = 0; q < s.Q; ++q)
        for (int k = 0; k < s.K; ++k) {
          double acc = 0, sum_abs = 0;
          for_each_window_tap(s, p, q, [&](int r, int t, int h, int v) {
            for (int ch = 0; ch < s.C; ++ch) {
              const double xv = x[((static_cast<std::size_t>(n) * s.H + h) * s.W + v) * s.C + ch];
              const double wv = w[((static_cast<std::size_t>(k) * s.C + ch) * s.R + r) * s.S + t] *
                                static_cast<double>(s_w[k]);
              acc += xv * wv;
              sum_abs += std::fabs(xv * wv);
            }
          });
          const std::size_t o = ((static_cast<std::size_t>(n) * s.P + p) * s.Q + q) * s.K + k;
          double y = acc + bias[k];
          const double rv = residual ? res[o] : 0.0;
          y += rv;
          const double m = ecg::cuda::fp16_weight_scale(s_w[k]).m;
          const double tail = (steps + 4) * f * (sum_abs + std::fabs(bias[k]) + std::fabs(rv));
          double e;
          if (dense) {
            e = (2 * std::ceil(s.C / 64.0) + 5) * f * sum_abs + tail;
          } else {
            e = (kLanePairs + 1) * u * sum_abs +
                m * steps * (kLanePairs + 1) * kHalfSubnormalHalfSpacing + tail;
          }
          double bound = (1 + u) * e;
          if (!out_float) bound += u * std::fabs(y) + kHalfSubnormalHalfSpacing;
          out.y.push_back(relu ? std::max(0.0, y) : y);
          out.bound.push_back(bound);
        }
  return out;
}

// Max, sum, sum of magnitudes and count of the in-bounds window of output
// (n, p, q, c) of an NHWC pool; value(i) is input element i as a double.
struct PoolWindowSums {
  double max = -INFINITY, sum = 0, sum_abs = 0;
  int count = 0;
};

template <class Shape, class Value>
PoolWindowSums pool_window_sums(const Shape& s, int n, int p, int q, int c, Value value) {
  PoolWindowSums w;
  for_each_window_tap(s, p, q, [&](int, int, int h, int v) {
    const double xv = value(((static_cast<std::size_t>(n) * s.H + h) * s.W + v) * s.C + c);
    w.max = std::max(w.max, xv), w.sum += xv, w.sum_abs += std::fabs(xv), ++w.count;
  });
  return w;
}

}  // namespace ecg::cuda_emu::testing
