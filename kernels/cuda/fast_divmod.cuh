// Division by a run-time constant as a multiply-high and a shift (the
// Granlund-Montgomery method): the implicit GEMMs decode every reduction
// index into (channel, tap row, tap column) and every column into (image,
// row, column), and a hardware-less 32-bit division costs about 20
// instructions on Maxwell, which the compile report showed dominating the
// convolution loops. The divisor is prepared once on the host.
//
// For d >= 2 with l = ceil(log2 d): m = ceil(2^(31+l) / d) fits 32 bits and
// n / d = (n * m) >> (31 + l) for every 0 <= n < 2^31 (the rounding error
// m d - 2^(31+l) < 2^l times n stays under 2^(31+l)). d = 1 is special-cased.
// tests/cuda_emu/test_fast_divmod.cpp checks it against `/` and `%`.
#pragma once

#include "kernels/cuda/emu/cuda_compat.h"

namespace ecg {
namespace cuda {

struct FastDivmod {
  int divisor;
  unsigned multiplier;
  unsigned shift;

  // Host only (run once per layer); numerators must lie in [0, 2^31).
  static FastDivmod make(int d) {
    FastDivmod f;
    f.divisor = d;
    if (d <= 1) {
      f.multiplier = 0;
      f.shift = 0;
      return f;
    }
    unsigned l = 0;
    while ((1ull << l) < static_cast<unsigned long long>(d)) ++l;
    const unsigned long long p = 1ull << (31 + l);
    f.multiplier = static_cast<unsigned>((p + static_cast<unsigned long long>(d) - 1) /
                                         static_cast<unsigned long long>(d));
    f.shift = l - 1;
    return f;
  }

  __host__ __device__ __forceinline__ int div(int n) const {
    if (divisor == 1) return n;
#if defined(__CUDA_ARCH__)
    const unsigned hi = __umulhi(static_cast<unsigned>(n), multiplier);
#else
    const unsigned hi = static_cast<unsigned>(
        (static_cast<unsigned long long>(static_cast<unsigned>(n)) * multiplier) >> 32);
#endif
    return static_cast<int>(hi >> shift);
  }
  // n = q * divisor + r, 0 <= r < divisor.
  __host__ __device__ __forceinline__ void divmod(int n, int& q, int& r) const {
    q = div(n);
    r = n - q * divisor;
  }
};

// Host: the four divisors of the int8 and FP16 implicit GEMMs (ConvInt8Args,
// ConvFp16Args): an output column into (image, row, column) by P*Q and Q, a
// reduction index into (row, column, channel) by Cp and S.
template <class ConvArgs>
inline void prepare_conv_divisors(ConvArgs& a) {
  a.pq_div = FastDivmod::make(a.P * a.Q);
  a.q_div = FastDivmod::make(a.Q);
  a.cp_div = FastDivmod::make(a.Cp);
  a.s_div = FastDivmod::make(a.S);
}

}  // namespace cuda
}  // namespace ecg
