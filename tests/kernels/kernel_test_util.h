// Shared helpers for the CPU kernel tests: every registered fast variant
// (Generic, Avx2, Avx512 where the CPU has it) is run and compared with the
// double-precision instantiation of the scalar reference (kernels/ref).
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu_features.h"
#include "kernels/op_table.h"
#include "kernels/runtime.h"

namespace ecg::test {

// The variants under test: each level the CPU can run.
inline std::vector<Isa> fast_isas() {
  std::vector<Isa> out;
  for (Isa i : {Isa::Generic, Isa::Avx2, Isa::Avx512, Isa::Neon})
    if (isa_supported(i)) out.push_back(i);
  return out;
}

inline std::vector<float> random_vec(size_t n, unsigned seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

inline std::vector<double> to_double(const std::vector<float>& v) {
  return std::vector<double>(v.begin(), v.end());
}

// |got - ref| <= atol + rtol * |ref| elementwise; on failure reports the
// mismatch count, the worst index and both values.
inline ::testing::AssertionResult all_near(const std::string& what, const float* got,
                                           const double* ref, size_t n, double atol, double rtol) {
  size_t bad = 0, worst = 0;
  double worst_excess = -1;
  for (size_t i = 0; i < n; ++i) {
    const double tol = atol + rtol * std::fabs(ref[i]);
    const double err = std::fabs(static_cast<double>(got[i]) - ref[i]);
    const bool ok = err <= tol;  // NaN fails
    if (!ok) ++bad;
    const double excess = std::isnan(err) ? 1e300 : err / tol;
    if (excess > worst_excess) worst_excess = excess, worst = i;
  }
  if (!bad) return ::testing::AssertionSuccess();
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "%s: %zu of %zu mismatch; worst at %zu: got %.9g, ref %.9g (tol %.3g)",
                what.c_str(), bad, n, worst, static_cast<double>(got[worst]), ref[worst],
                atol + rtol * std::fabs(ref[worst]));
  return ::testing::AssertionFailure() << buf;
}

inline ::testing::AssertionResult all_near(const std::string& what, const std::vector<float>& got,
                                           const std::vector<double>& ref, double atol,
                                           double rtol) {
  if (got.size() != ref.size()) return ::testing::AssertionFailure() << what << ": size differs";
  return all_near(what, got.data(), ref.data(), got.size(), atol, rtol);
}

// Runs each test body with 1 and with 3 threads (3 exercises uneven splits).
inline std::vector<int> thread_counts() {
  return {1, 3};
}

struct ThreadGuard {
  ~ThreadGuard() { set_num_threads(0); }
};

}  // namespace ecg::test
