// The peak probes (kernels/peak_probe.h) run at every level this CPU has and
// give rates a real machine can produce. The bounds are wide on purpose:
// ordering between levels is not guaranteed (AMD Zen 4 splits zmm FMAs into
// two ymm halves), and the machine may be shared.
#include <gtest/gtest.h>

#include <cstdio>

#include "kernels/cpu_features.h"
#include "kernels/peak_probe.h"

namespace ecg {
namespace {

std::vector<Isa> supported_levels() {
  std::vector<Isa> out;
  for (int i = 0; i < static_cast<int>(Isa::Count); ++i)
    if (isa_supported(static_cast<Isa>(i))) out.push_back(static_cast<Isa>(i));
  return out;
}

// A single core: at least a scalar FMA every other cycle at 0.5 GHz (0.5
// GFLOP/s), at most 4 FMA units x 16 lanes x 2 flops x 6 GHz (768 GFLOP/s).
TEST(PeakProbe, Fp32PeakIsInASaneRangeAtEveryLevel) {
  for (Isa level : supported_levels()) {
    const double g = measure_fp32_fma_peak(1, level);
    std::printf("fp32 peak at %s (%s): %.1f GFLOP/s\n", isa_name(level),
                fp32_peak_instructions(level), g);
    EXPECT_GT(g, 0.5) << isa_name(level);
    EXPECT_LT(g, 768.0) << isa_name(level);
    EXPECT_STRNE(fp32_peak_instructions(level), "") << isa_name(level);
  }
}

// int8: 64 multiply-adds per instruction, 2 ports, 6 GHz, 2 ops each is the
// ceiling of one core (1536 GOP/s); a portable loop still does > 0.5.
TEST(PeakProbe, Int8PeakIsInASaneRangeAtEveryLevel) {
  for (Isa level : supported_levels()) {
    const double g = measure_int8_peak(level, 1);
    std::printf("int8 peak at %s (%s): %.1f GOP/s\n", isa_name(level),
                int8_peak_instructions(level), g);
    EXPECT_GT(g, 0.5) << isa_name(level);
    EXPECT_LT(g, 1536.0) << isa_name(level);
  }
}

// On a CPU with AVX2, the vector FMA probe beats the portable scalar-width
// loop (SSE mul + add, no FMA): 8-lane FMAs on two ports against 4-lane
// separate multiply and add.
TEST(PeakProbe, VectorFmaBeatsThePortableLoop) {
  if (!isa_supported(Isa::Avx2)) GTEST_SKIP() << "no AVX2";
  EXPECT_GT(measure_fp32_fma_peak(1, Isa::Avx2), measure_fp32_fma_peak(1, Isa::Generic));
}

TEST(PeakProbe, BandwidthIsInASaneRange) {
  const double gbs = measure_bandwidth(2);
  EXPECT_GT(gbs, 0.2);
  EXPECT_LT(gbs, 2000.0);
}

TEST(PeakProbe, UnsupportedLevelThrows) {
  for (int i = 0; i < static_cast<int>(Isa::Count); ++i) {
    if (!isa_supported(static_cast<Isa>(i))) {
      EXPECT_THROW(measure_fp32_fma_peak(1, static_cast<Isa>(i)), std::exception);
    }
  }
}

}  // namespace
}  // namespace ecg
