// GoogleTest glue for golden comparisons: the list of variants every golden
// test runs (the f64 reference path, and the f32 path once per ISA level this
// CPU supports, so each fast kernel registered later is checked against
// PyTorch too), and an EXPECT-style check that prints the margin.
#pragma once
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <ostream>
#include <string>
#include <vector>

#include "core/cpu_features.h"
#include "tests/golden/golden_file.h"

namespace ecg::golden {

struct Variant {
  DType dtype;
  Isa isa;
};

inline std::vector<Variant> all_variants() {
  std::vector<Variant> v{{DType::F64, Isa::Ref}};
  for (int i = 0; i < static_cast<int>(Isa::Count); ++i)
    if (isa_supported(static_cast<Isa>(i))) v.push_back({DType::F32, static_cast<Isa>(i)});
  return v;
}

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
