// The one integer rule: requantization against a 128-bit exact reference over
// millions of random cases, multiplier encoding edge cases, the SIMD
// epilogues byte for byte against the scalar rule, and the residual add.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "kernels/cpu/int8/int8_internal.h"
#include "kernels/int8_api.h"

namespace {

using ecg::int8::AddRequant;
using ecg::int8::Int8Kernel;
using ecg::int8::Requant;

__extension__ typedef __int128 i128;

// floor(num / 2^t) for any sign, in 128 bits.
int64_t floor_div_pow2(i128 num, int t) {
  const i128 d = i128(1) << t;
  i128 q = num / d;
  if (num % d != 0 && num < 0) q -= 1;
  return static_cast<int64_t>(q);
}

int64_t exact_round(int32_t acc, Requant r) {
  return floor_div_pow2(i128(acc) * r.m0 + (i128(1) << (r.shift - 1)), r.shift);
}

int32_t random_acc(std::mt19937_64& g) {
  switch (g() % 4) {
    case 0:
      return static_cast<int32_t>(static_cast<uint32_t>(g()));  // full range
    case 1:
      return static_cast<int32_t>(g() % 2001) - 1000;  // small
    case 2:
      return (g() & 1) ? INT32_MAX - static_cast<int32_t>(g() % 4)
                       : INT32_MIN + static_cast<int32_t>(g() % 4);
    default:
      return static_cast<int32_t>(g() % 2000001) - 1000000;
  }
}

Requant random_requant(std::mt19937_64& g) {
  Requant r;
  const uint64_t kind = g() % 16;
  if (kind == 0) return Requant{0, static_cast<int32_t>(1 + g() % 62)};
  r.m0 = static_cast<int32_t>((int64_t(1) << 30) + static_cast<int64_t>(g() % (int64_t(1) << 30)));
  if (kind == 1) r.m0 = INT32_MAX;
  if (kind == 2) r.m0 = int32_t(1) << 30;
  r.shift = static_cast<int32_t>(1 + g() % 62);
  if (kind >= 8) r.shift = static_cast<int32_t>(28 + g() % 20);  // typical layers
  return r;
}

TEST(Requant, RoundMatchesInt128OverMillionsOfCases) {
  std::mt19937_64 g(12345);
  int64_t mismatches = 0;
  for (int i = 0; i < 4000000; ++i) {
    const int32_t acc = random_acc(g);
    const Requant r = random_requant(g);
    const int64_t got = ecg::int8::requant_round(acc, r);
    const int64_t want = exact_round(acc, r);
    if (got != want && mismatches++ < 5)
      ADD_FAILURE() << "acc=" << acc << " m0=" << r.m0 << " t=" << r.shift << " got=" << got
                    << " want=" << want;
  }
  EXPECT_EQ(mismatches, 0);
}

TEST(Requant, HalfRoundsUp) {
  // acc * 2^30 / 2^31 = acc / 2: halves go up (towards +inf), also for negatives.
  const Requant half{int32_t(1) << 30, 31};
  EXPECT_EQ(ecg::int8::requant_round(1, half), 1);
  EXPECT_EQ(ecg::int8::requant_round(-1, half), 0);
  EXPECT_EQ(ecg::int8::requant_round(3, half), 2);
  EXPECT_EQ(ecg::int8::requant_round(-3, half), -1);
  EXPECT_EQ(ecg::int8::requantize(1000, half, 3, -128, 127), 127);
  EXPECT_EQ(ecg::int8::requantize(-1000, half, 3, 3, 127), 3);  // ReLU clamp
}

TEST(Requant, EncodingIsTheNearestFixedPoint) {
  std::mt19937_64 g(7);
  std::uniform_real_distribution<double> e(-31.0, 28.0);
  for (int i = 0; i < 200000; ++i) {
    const double M = std::exp2(e(g));
    const Requant r = ecg::int8::make_requant(M);
    ASSERT_GE(r.shift, 1);
    ASSERT_LE(r.shift, 62);
    ASSERT_GE(r.m0, int32_t(1) << 30) << M;
    // M0 is M * 2^t rounded to the nearest integer.
    EXPECT_LE(std::fabs(std::ldexp(M, r.shift) - r.m0), 0.5 + 1e-6) << M;
  }
}

TEST(Requant, EncodingEdges) {
  // m rounds up to 1: renormalised to 2^30 with one less shift, same value.
  const double just_below_one = 1.0 - std::ldexp(1.0, -33);
  Requant r = ecg::int8::make_requant(just_below_one);
  EXPECT_EQ(r.m0, int32_t(1) << 30);
  EXPECT_EQ(r.shift, 30);
  EXPECT_EQ(ecg::int8::requant_round(12345, r), 12345);
  // Exactly 1 and powers of two.
  r = ecg::int8::make_requant(1.0);
  EXPECT_EQ(ecg::int8::requant_round(-777, r), -777);
  r = ecg::int8::make_requant(0.25);
  EXPECT_EQ(ecg::int8::requant_round(6, r), 2);  // 1.5 rounds up
  // Tiny: the rule's exact answer is 0 for every int32 accumulator.
  for (double M : {1e-10, std::ldexp(1.0, -33), 1e-300}) {
    r = ecg::int8::make_requant(M);
    EXPECT_EQ(r.m0, 0);
    for (int32_t acc : {INT32_MIN, -1, 0, 1, INT32_MAX})
      EXPECT_EQ(ecg::int8::requant_round(acc, r), std::llround(std::floor(acc * M + 0.5)));
  }
  // Huge, including above the shift range: saturates exactly as the real M.
  for (double M : {std::ldexp(1.0, 29), std::ldexp(1.0, 30), 1e12, 1e300}) {
    r = ecg::int8::make_requant(M);
    EXPECT_EQ(ecg::int8::requantize(0, r, 5, -128, 127), 5);
    EXPECT_EQ(ecg::int8::requantize(1, r, 5, -128, 127), 127);
    EXPECT_EQ(ecg::int8::requantize(-1, r, 5, -128, 127), -128);
    EXPECT_EQ(ecg::int8::requantize(INT32_MIN, r, 5, -128, 127), -128);
  }
  // Non-finite or non-positive multipliers: output is the zero point, no UB.
  for (double M : {0.0, -1.0, std::nan(""), std::numeric_limits<double>::infinity()}) {
    r = ecg::int8::make_requant(M);
    EXPECT_EQ(ecg::int8::requantize(1000000, r, -7, -128, 127), -7);
  }
}

std::vector<Int8Kernel> simd_kernels() {
  std::vector<Int8Kernel> ks;
  for (Int8Kernel k : {Int8Kernel::Avx2, Int8Kernel::AvxVnni, Int8Kernel::Avx512Vnni,
                       Int8Kernel::Neon, Int8Kernel::NeonDot})
    if (ecg::int8::int8_kernel_supported(k)) ks.push_back(k);
  return ks;
}

AddRequant random_add(std::mt19937_64& g) {
  std::uniform_real_distribution<double> e(-3.0, 3.0);
  const int32_t zo = static_cast<int32_t>(g() % 256) - 128;
  const bool relu = g() & 1;
  return ecg::int8::make_add_requant(std::exp2(e(g)), static_cast<int32_t>(g() % 256) - 128,
                                     std::exp2(e(g)), static_cast<int32_t>(g() % 256) - 128, 1.0,
                                     zo, relu ? zo : -128, 127);
}

TEST(Requant, SimdEpiloguesMatchScalarByteForByte) {
  std::mt19937_64 g(99);
  const int n = 1 << 16;
  std::vector<int32_t> acc(n);
  std::vector<Requant> rq(n);
  std::vector<int8_t> res(n), want(n), got(n);
  for (Int8Kernel k : simd_kernels()) {
    auto hook = ecg::int8::detail::epilogue_hook(k);
    ASSERT_NE(hook, nullptr);
    int64_t bad = 0;
    for (int rep = 0; rep < 24; ++rep) {  // 24 * 65536 = 1.6M cases per kernel
      for (int i = 0; i < n; ++i) {
        acc[i] = random_acc(g);
        rq[i] = random_requant(g);
        // Half the runs keep t >= 32 everywhere: the AVX-512 fast path.
        if (rep % 4 >= 2 && rq[i].shift < 32) rq[i].shift = 32 + rq[i].shift % 31;
        res[i] = static_cast<int8_t>(g());
      }
      const int32_t zp = static_cast<int32_t>(g() % 256) - 128;
      const int32_t qmin = (rep % 3 == 0) ? zp : -128;
      const int32_t qmax = (rep % 5 == 0) ? 100 : 127;
      const bool with_res = rep % 2 == 1;
      const AddRequant add = random_add(g);
      const int len = n - static_cast<int>(g() % 16);  // ragged tail
      for (int i = 0; i < len; ++i) {
        want[i] = ecg::int8::requantize(acc[i], rq[i], zp, qmin, qmax);
        if (with_res) want[i] = ecg::int8::add_requantize(want[i], res[i], add);
      }
      hook(len, acc.data(), rq.data(), zp, qmin, qmax, with_res ? res.data() : nullptr, add,
           got.data());
      for (int i = 0; i < len; ++i)
        if (got[i] != want[i] && bad++ < 5)
          ADD_FAILURE() << ecg::int8::int8_kernel_name(k) << " i=" << i << " acc=" << acc[i]
                        << " m0=" << rq[i].m0 << " t=" << rq[i].shift << " got=" << int(got[i])
                        << " want=" << int(want[i]);
    }
    EXPECT_EQ(bad, 0) << ecg::int8::int8_kernel_name(k);
  }
}

TEST(AddRequant, Int32NeverOverflowsAndMatchesInt64) {
  std::mt19937_64 g(5);
  for (int rep = 0; rep < 40; ++rep) {
    AddRequant p = random_add(g);
    if (rep == 0) p = ecg::int8::make_add_requant(1e9, 0, 1e9, 0, 1.0, 0, -128, 127);  // saturating
    if (rep == 1) p = ecg::int8::make_add_requant(1e-9, 0, 1.0, 0, 1e3, 0, -128, 127);  // tiny
    ASSERT_GE(p.shift, 1);
    ASSERT_LE(p.shift, 31);
    ASSERT_LT(p.mul_a, 1 << 21);
    ASSERT_LT(p.mul_b, 1 << 21);
    for (int a = -128; a <= 127; ++a)
      for (int b = -128; b <= 127; ++b) {
        const int64_t sum = int64_t(p.mul_a) * (a - p.zp_a) + int64_t(p.mul_b) * (b - p.zp_b) +
                            (int64_t(1) << (p.shift - 1));
        ASSERT_LT(std::llabs(sum), int64_t(1) << 31);
        int64_t v = p.zp_out + floor_div_pow2(sum, p.shift);
        v = std::min<int64_t>(std::max<int64_t>(v, p.qmin), p.qmax);
        ASSERT_EQ(ecg::int8::add_requantize(a, b, p), v);
      }
  }
}

TEST(AddRequant, CloseToRealArithmetic) {
  // out ~ zp_out + s_a/s_out (a - zp_a) + s_b/s_out (b - zp_b), within half a
  // step plus the multiplier rounding.
  const double sa = 0.05, sb = 0.08, so = 0.11;
  const AddRequant p = ecg::int8::make_add_requant(sa, 3, sb, -10, so, -20, -128, 127);
  for (int a = -128; a <= 127; a += 3)
    for (int b = -128; b <= 127; b += 5) {
      const double real = -20 + sa / so * (a - 3) + sb / so * (b + 10);
      const double clamped = std::min(127.0, std::max(-128.0, std::floor(real + 0.5)));
      EXPECT_NEAR(ecg::int8::add_requantize(a, b, p), clamped, 1.0) << a << " " << b;
      if (std::fabs(real - std::floor(real) - 0.5) > 1e-3) {
        EXPECT_EQ(ecg::int8::add_requantize(a, b, p), clamped) << a << " " << b;
      }
    }
}

}  // namespace
