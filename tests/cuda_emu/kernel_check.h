// Helpers for comparing CUDA kernels run on the emulator with kernels/ref:
// deterministic inputs, double copies for the reference, and a comparison
// that reports the mismatch count, the worst index and both values.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "kernels/kernel_api.h"
#include "tests/cuda_emu/emu_testing.h"

namespace ecg::cuda_emu::testing {

// Unit roundoff of float (round to nearest): every float operation's error
// is at most this fraction of its exact result.
constexpr double kFloatUnitRoundoff = 1.0 / (1 << 24);

// The kernel tests' schedule loop: forward, reverse and random, as
// for_each_schedule, except under ThreadSanitizer, where one order suffices
// (every unsynchronised pair of accesses is reported whatever the order) and
// the build runs about 1,000 times slower.
template <class F>
void for_each_kernel_schedule(F&& body) {
  if (!race_detection()) {
    for_each_schedule(body);
    return;
  }
  ScheduleGuard guard;
  const ScheduleSpec spec = schedules().front();
  run_under_schedule(spec, "schedule " + spec.name() + " (ThreadSanitizer)", body);
}

// A finalized convolution shape (strides sh, sw; padding top, left, bottom, right).
inline Conv2dShape conv_shape(int N, int C, int H, int W, int K, int R, int S, int sh, int sw,
                              int pt, int pl, int pb, int pr) {
  Conv2dShape s;
  s.N = N, s.C = C, s.H = H, s.W = W, s.K = K, s.R = R, s.S = S;
  s.stride_h = sh, s.stride_w = sw;
  s.pad_top = pt, s.pad_left = pl, s.pad_bottom = pb, s.pad_right = pr;
  EXPECT_TRUE(ecg::conv2d_finalize(s));
  return s;
}

// Under ThreadSanitizer, only the shapes at `keep` (the smallest that still
// cover every code path); elsewhere all of them.
template <class T>
std::vector<T> tsan_subset(const std::vector<T>& all, std::initializer_list<std::size_t> keep) {
  if (!race_detection()) return all;
  std::vector<T> some;
  for (std::size_t i : keep) some.push_back(all.at(i));
  return some;
}

// Values in [lo, hi] on a grid of 2001 points, from a 32-bit LCG.
inline std::vector<float> fill_uniform(std::size_t n, unsigned seed, float lo = -1.f,
                                       float hi = 1.f) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) {
    seed = seed * 1664525u + 1013904223u;
    const float u = static_cast<float>((seed >> 9) % 2001) / 2000.f;
    v[i] = lo + (hi - lo) * u;
  }
  return v;
}

inline std::vector<double> to_double(const std::vector<float>& v) {
  return std::vector<double>(v.begin(), v.end());
}

inline std::vector<double> abs_of(const std::vector<float>& v) {
  std::vector<double> a(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) a[i] = std::fabs(static_cast<double>(v[i]));
  return a;
}

// got[i] must lie within bound[i] of want[i]; failures print the count, the
// worst index (by error / bound) and both values.
inline void expect_close(const std::vector<float>& got, const std::vector<double>& want,
                         const std::vector<double>& bound, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  ASSERT_EQ(bound.size(), want.size()) << what;
  std::size_t bad = 0, worst = 0;
  double worst_ratio = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double err = std::fabs(static_cast<double>(got[i]) - want[i]);
    const double ratio = bound[i] > 0 ? err / bound[i] : (err > 0 ? INFINITY : 0);
    if (!(err <= bound[i])) ++bad;  // NaN counts as a mismatch
    if (!(ratio <= worst_ratio)) {
      worst_ratio = ratio;
      worst = i;
    }
  }
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << got.size() << " outside the bound; worst #"
                     << worst << " got " << got[worst] << " want " << want[worst] << " bound "
                     << bound[worst] << " (error/bound " << worst_ratio << ")";
}

// Same, with one bound for every element.
inline void expect_close(const std::vector<float>& got, const std::vector<double>& want,
                         double bound, const std::string& what) {
  expect_close(got, want, std::vector<double>(want.size(), bound), what);
}

}  // namespace ecg::cuda_emu::testing
