// GoogleTest glue for golden comparisons: the list of variants every golden
// test runs (the f64 reference path, and the f32 path once per kernel level of
// the architecture, skipped by name where this CPU lacks it, so each fast
// kernel registered later is checked against PyTorch too), and an EXPECT-style
// check that prints the margin.
#pragma once
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "kernels/cpu_features.h"
#include "tests/golden/golden_file.h"

namespace ecg::golden {

struct Variant {
  DType dtype;
  Isa isa;
};

// Every kernel level of this architecture, whether or not this CPU runs it:
// a level the CPU lacks is instantiated and reported as skipped, by name, so
// a run's log says which levels it did not cover.
inline std::vector<Isa> architecture_levels() {
#if defined(__aarch64__)
  return {Isa::Ref, Isa::Generic, Isa::Neon};
#elif defined(__x86_64__)
  return {Isa::Ref, Isa::Generic, Isa::Avx2, Isa::Avx512};
#else
  return {Isa::Ref, Isa::Generic};
#endif
}

inline std::vector<Variant> all_variants() {
  std::vector<Variant> v{{DType::F64, Isa::Ref}};
  for (Isa isa : architecture_levels()) v.push_back({DType::F32, isa});
  return v;
}

// For the start of a test body or SetUp(): skips, naming the level.
#define ECG_SKIP_IF_CPU_LACKS(isa)                                                          \
  do {                                                                                      \
    if (!isa_supported(isa))                                                                \
      GTEST_SKIP() << "kernel level " << isa_name(isa) << ": this CPU does not support it"; \
  } while (0)

// Readable parameter in failure lines instead of the struct's raw bytes.
inline void PrintTo(const Variant& v, std::ostream* os) {
  *os << dtype_name(v.dtype) << " on " << isa_name(v.isa);
}

inline std::string variant_name(const ::testing::TestParamInfo<Variant>& info) {
  if (info.param.dtype == DType::F64) return "f64";
  return std::string("f32_") + isa_name(info.param.isa);
}

// Sets the ISA level for one test and restores the previous one afterwards.
class IsaScope {
 public:
  explicit IsaScope(Isa isa) : saved_(active_isa()) { set_active_isa(isa); }
  ~IsaScope() { set_active_isa(saved_); }

 private:
  Isa saved_;
};

// A suite over every Variant: each test skips where the CPU lacks the level
// and runs with that level active.
class VariantTest : public ::testing::TestWithParam<Variant> {
 protected:
  void SetUp() override {
    ECG_SKIP_IF_CPU_LACKS(GetParam().isa);
    isa_ = std::make_unique<IsaScope>(GetParam().isa);
  }
  void TearDown() override { isa_.reset(); }

 private:
  std::unique_ptr<IsaScope> isa_;
};

// The float64 path runs the same arithmetic as PyTorch's float64 from the same
// float32-representable inputs; only the order of summation differs, which
// costs a few ulps of the largest partial sum (about 1e-15 relative here).
inline const Tolerance kF64{1e-12, 1e-10, "f64: same arithmetic, summation order differs"};

// ECG_GOLDEN_MARGINS=1 prints every comparison's worst |err|/bound, which is
// how the observed margins written beside each tolerance were read off.
inline void expect_close(const std::string& what, const Tensor& actual,
                         const GoldenTensor& expected, const Tolerance& tol) {
  CompareResult r = compare(what, actual, expected, tol);
  static const bool print = std::getenv("ECG_GOLDEN_MARGINS") != nullptr;
  if (print) std::printf("[margin] %-60s %.3g\n", what.c_str(), r.worst_ratio);
  EXPECT_TRUE(r.ok) << r.message;
}

}  // namespace ecg::golden
