// The tiled SGEMM of kernels/cuda/sgemm_tiled.cuh, run on the CPU emulator
// under three schedules and compared with a double-precision reference. This
// is the pattern for every CUDA kernel test: include the kernel header, launch
// through its host entry point, compare with the reference.
#include <cmath>
#include <vector>

#include "kernels/cuda/sgemm_tiled.cuh"
#include "tests/cuda_emu/emu_testing.h"

namespace {

using ecg::cuda_emu::ScheduleSpec;
using ecg::cuda_emu::testing::DeviceBuffer;
using ecg::cuda_emu::testing::for_each_schedule;

std::vector<float> fill(std::size_t n, unsigned seed) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) {
    seed = seed * 1664525u + 1013904223u;
    v[i] = static_cast<float>(static_cast<int>(seed >> 9) % 2001 - 1000) / 1000.f;
  }
  return v;
}

struct Shape {
  int M, N, K;
};

TEST(CudaEmuSgemmTiled, MatchesDoubleReferenceUnderEverySchedule) {
  // Odd sizes (not multiples of the 32x32 tile or the K step of 8), a single
  // row, K smaller than one step, and a full tile.
  for (Shape s : {Shape{37, 45, 19}, Shape{1, 70, 9}, Shape{33, 1, 3}, Shape{32, 32, 32}}) {
    const std::vector<float> A = fill(static_cast<std::size_t>(s.M) * s.K, 1u);
    const std::vector<float> B = fill(static_cast<std::size_t>(s.K) * s.N, 2u);
    const std::vector<float> C0 = fill(static_cast<std::size_t>(s.M) * s.N, 3u);
    const float beta = 0.5f;
    for_each_schedule([&](const ScheduleSpec&) {
      DeviceBuffer<float> dA(A), dB(B), dC(C0);
      ASSERT_EQ(ecg::cuda::sgemm_tiled(s.M, s.N, s.K, dA.get(), dB.get(), beta, dC.get(), nullptr),
                cudaSuccess);
      const std::vector<float> C = dC.to_host();
      int mismatches = 0;
      double worst = 0;
      for (int m = 0; m < s.M; ++m)
        for (int n = 0; n < s.N; ++n) {
          double ref = beta * static_cast<double>(C0[static_cast<std::size_t>(m) * s.N + n]);
          double abs_sum = std::fabs(ref);
          for (int k = 0; k < s.K; ++k) {
            double p = static_cast<double>(A[static_cast<std::size_t>(m) * s.K + k]) *
                       B[static_cast<std::size_t>(k) * s.N + n];
            ref += p;
            abs_sum += std::fabs(p);
          }
          // Float accumulation: K+1 roundings, each at most 2^-24 of the running |sum|.
          const double tol = (s.K + 2) * 6e-8 * abs_sum + 1e-30;
          const double err = std::fabs(C[static_cast<std::size_t>(m) * s.N + n] - ref);
          if (err > tol) ++mismatches;
          if (err > worst) worst = err;
        }
      EXPECT_EQ(mismatches, 0) << "M " << s.M << " N " << s.N << " K " << s.K << " worst " << worst;
    });
  }
}

}  // namespace
