// FastDivmod (kernels/cuda/fast_divmod.cuh) against `/` and `%`: every
// divisor up to 5,000 (all layer extents of the study's networks) and the
// products of extents the kernels divide by, on numerators at the edges of
// each quotient and at the top of the supported range 2^31 - 1.
#include <cstdint>
#include <vector>

#include "kernels/cuda/fast_divmod.cuh"
#include "tests/cuda_emu/emu_testing.h"

namespace {

TEST(CudaFastDivmod, MatchesIntegerDivision) {
  std::vector<int> divisors;
  for (int d = 1; d <= 5000; ++d) divisors.push_back(d);
  for (int d : {224 * 224, 112 * 112, 56 * 56, 50176 * 3, 65536, 1 << 30, 2147483647, 1000003})
    divisors.push_back(d);
  long long failures = 0;
  for (int d : divisors) {
    const ecg::cuda::FastDivmod f = ecg::cuda::FastDivmod::make(d);
    std::vector<long long> ns = {0,       1,          d - 1LL,    d,
                                 d + 1LL, 2147483647, 2147483646, 2147483647LL - d};
    for (long long q = 1; q < 2147483647LL / d && ns.size() < 200; q = q * 3 + 1) {
      ns.push_back(q * d - 1);
      ns.push_back(q * d);
    }
    for (long long n_wide : ns) {
      if (n_wide < 0 || n_wide > 2147483647LL) continue;
      const int n = static_cast<int>(n_wide);
      int q = 0, r = 0;
      f.divmod(n, q, r);
      if (q != n / d || r != n % d) {
        if (++failures < 5) ADD_FAILURE() << n << " / " << d << ": got " << q << " rem " << r;
      }
    }
  }
  EXPECT_EQ(failures, 0);
}

}  // namespace
