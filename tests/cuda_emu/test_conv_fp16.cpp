// FP16 (half2) convolution, dense layer, pools and add (kernels/cuda/conv_fp16.cuh,
// pool_fp16.cuh) on the emulator as sm_53, under three schedules, against a
// double reference computed from the same dequantized int8 weights
// (q * s_w) and the same half inputs.
//
// The tolerance of a convolution or dense output is derived in
// fp16_reference.h (the kernels' error bound, per element).
// Pools: max is exact; average: (count + 1) 2^-24 sum|x| / count plus the half
// rounding; add: exactly the correctly rounded half of a + b.
// The largest error / bound ratio of each case is recorded (RecordProperty);
// a test also checks that the half arithmetic is really there (some outputs
// differ from the float-accumulated value).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/cuda/conv_fp16.cuh"
#include "kernels/cuda/conv_fp16_pack.h"
#include "kernels/cuda/pool_fp16.cuh"
#include "tests/cuda_emu/emu_testing.h"
#include "tests/cuda_emu/fp16_reference.h"
#include "tests/cuda_emu/kernel_check.h"

namespace {

using ecg::Conv2dShape;
using ecg::cuda_emu::ScheduleSpec;
using namespace ecg::cuda_emu::testing;
namespace int8 = ecg::int8;

struct Lcg {
  uint32_t s;
  int next(int lo, int hi) {
    s = s * 1664525u + 1013904223u;
    return lo + static_cast<int>((s >> 8) % static_cast<uint32_t>(hi - lo + 1));
  }
};

uint16_t to_half_bits(float v) {
  return __half_as_ushort(__float2half_rn(v));
}
double half_value(uint16_t bits) {
  return static_cast<double>(__half2float(__ushort_as_half(bits)));
}
std::vector<double> half_values(const std::vector<uint16_t>& bits) {
  std::vector<double> v(bits.size());
  for (std::size_t i = 0; i < bits.size(); ++i) v[i] = half_value(bits[i]);
  return v;
}
// Halves on a grid in [lo, hi] (fill_uniform, then rounded to half).
std::vector<uint16_t> half_inputs(std::size_t n, unsigned seed, float lo, float hi) {
  std::vector<uint16_t> h(n);
  const std::vector<float> f = fill_uniform(n, seed, lo, hi);
  for (std::size_t i = 0; i < n; ++i) h[i] = to_half_bits(f[i]);
  return h;
}

Conv2dShape shape(int N, int C, int H, int W, int K, int R, int S, int st, int pt, int pl, int pb,
                  int pr) {
  return conv_shape(N, C, H, W, K, R, S, st, st, pt, pl, pb, pr);
}

struct Case {
  std::string name;
  Conv2dShape s;
  bool relu, residual, out_float;
};

// The stem's 3 channels (odd C: pairs assembled from two halves, the padding
// channel read as 0), C = 8, 12 (pairs through the iterator), C = 64, 128, 32
// (a K step is one tap) and 16 (two taps, 3x3 and 1x1, the last step half
// empty), stride 2 with TensorFlow's asymmetric padding, an odd C
// over 4 with the residual add and ReLU, a 1x1 stride-2 shortcut, batch > 1,
// a reduction of 1,152 terms (36 K steps, each folded), K over 128 (two row
// tiles of the 128 x 64 tile), every tile (K <= 16, <= 64, > 64), and two
// dense layers (float logits; half with ReLU).
std::vector<Case> cases() {
  return {{"stem-like C3 relu", shape(2, 3, 9, 10, 16, 3, 3, 1, 1, 1, 1, 1), true, false, false},
          {"C8 stride 2 same", shape(1, 8, 11, 9, 24, 3, 3, 2, 0, 0, 1, 1), false, false, false},
          {"C5 residual relu", shape(2, 5, 7, 6, 70, 3, 3, 1, 1, 1, 1, 1), true, true, false},
          {"1x1 stride 2", shape(3, 12, 9, 9, 20, 1, 1, 2, 0, 0, 0, 0), false, false, false},
          {"C128 K16 long", shape(1, 128, 5, 5, 16, 3, 3, 1, 1, 1, 1, 1), false, false, false},
          {"C64 K130 relu", shape(1, 64, 6, 7, 130, 3, 3, 1, 1, 1, 1, 1), true, false, false},
          {"C16 K40 stride 2", shape(2, 16, 9, 8, 40, 3, 3, 2, 0, 0, 1, 1), false, false, false},
          {"C16 1x1 residual", shape(1, 16, 5, 7, 12, 1, 1, 1, 0, 0, 0, 0), true, true, false},
          {"C32 K8 5x5 pad", shape(1, 32, 6, 6, 8, 5, 5, 1, 2, 2, 2, 2), false, false, false},
          {"dense 70->4 float", shape(3, 70, 1, 1, 4, 1, 1, 1, 0, 0, 0, 0), false, false, true},
          {"dense 37->5 relu", shape(2, 37, 1, 1, 5, 1, 1, 1, 0, 0, 0, 0), true, false, false}};
}

// Per-channel weight scales over three decades, with one tiny channel (the
// exponent clamp at 24: subnormal staged weights) and one large one.
std::vector<float> weight_scales(int K) {
  std::vector<float> s(K);
  for (int k = 0; k < K; ++k) s[k] = 0.004f * std::pow(1.6f, static_cast<float>(k % 11));
  if (K > 2) s[1] = 3e-8f, s[2] = 2.5f;
  return s;
}

// The staging of a weight byte is exact for every byte and every exponent the
// packing allows: 0x6400 | (q + 128) is the half 1152 + q, and one fma with
// (2^-e, -1152 * 2^-e) gives q * 2^-e (subnormal for the smallest scales).
TEST(CudaEmuConvFp16, WeightStagingIsExact) {
  for (int e = -5; e <= 24; ++e) {
    const ecg::cuda::Fp16WeightScale ws = ecg::cuda::fp16_weight_scale(std::ldexp(1.f, -e));
    ASSERT_EQ(ws.e, e);
    ASSERT_EQ(ws.m, 1.f);
    for (int q = -127; q < 127; ++q) {
      const unsigned word =
          static_cast<unsigned>(q & 0xff) | (static_cast<unsigned>((q + 1) & 0xff) << 8);
      const __half2 w =
          ecg::cuda::conv_fp16_dequant(word ^ 0x8080u, 0x4140u, ecg::cuda::conv_fp16_bits(ws.p),
                                       ecg::cuda::conv_fp16_bits(ws.c));
      ASSERT_EQ(static_cast<double>(__low2float(w)), std::ldexp(static_cast<double>(q), -e));
      ASSERT_EQ(static_cast<double>(__high2float(w)), std::ldexp(static_cast<double>(q + 1), -e));
    }
  }
  // Scales outside [2^-24, 2^5] keep the clamped exponent and move the rest to m.
  EXPECT_EQ(ecg::cuda::fp16_weight_scale(1e-9f).e, 24);
  EXPECT_EQ(ecg::cuda::fp16_weight_scale(1000.f).e, -5);
  EXPECT_EQ(ecg::cuda::fp16_weight_scale(0.f).m, 0.f);
}

TEST(CudaEmuConvFp16, WithinTheHalfRoundingBoundOfTheDoubleReference) {
  Lcg rng{4242u};
  for (const Case& c : tsan_subset(cases(), {0, 2, 7, 10})) {
    SCOPED_TRACE(c.name);
    const Conv2dShape& s = c.s;
    int8::ConvInt8Params p;
    p.shape = s;
    p.residual = c.residual;
    p.output = c.out_float ? int8::OutputMode::Int32 : int8::OutputMode::Int8;
    std::vector<int8_t> w(static_cast<std::size_t>(s.K) * s.C * s.R * s.S);
    for (auto& v : w) v = static_cast<int8_t>(rng.next(-127, 127));
    const std::vector<float> s_w = weight_scales(s.K);
    const float s_in = 1.f / 64;
    p.bias.resize(s.K);
    for (auto& b : p.bias) b = rng.next(-20000, 20000);
    const ecg::cuda::ConvFp16Packed packed =
        ecg::cuda::pack_conv_fp16(p, w.data(), s_w.data(), s_in, c.relu);
    const std::vector<uint16_t> x =
        half_inputs(static_cast<std::size_t>(s.N) * s.H * s.W * s.C, 17u + s.C, -2.f, 2.f);
    const std::size_t ny = static_cast<std::size_t>(s.N) * s.P * s.Q * s.K;
    const std::vector<uint16_t> res = half_inputs(ny, 99u, -2.f, 2.f);
    const Fp16Reference want =
        fp16_conv_reference(s, c.relu, c.residual, c.out_float, w.data(), s_w.data(),
                            packed.bias.data(), half_values(x), half_values(res));

    double worst = 0;
    for_each_kernel_schedule([&](const ScheduleSpec&) {
      DeviceBuffer<int8_t> dw(packed.weights);
      DeviceBuffer<uint32_t> dstage(packed.stage);
      DeviceBuffer<float> dscale(packed.scale), dbias(packed.bias);
      DeviceBuffer<uint16_t> dx(x), dres(res);
      DeviceBuffer<uint8_t> dy(ny * (c.out_float ? 4 : 2), 0xa5);
      ecg::cuda::ConvFp16Args a = packed.args;
      a.w = reinterpret_cast<const signed char*>(dw.get());
      a.w_stage = dstage.get(), a.scale = dscale.get(), a.bias = dbias.get();
      ASSERT_EQ(ecg::cuda::conv_fp16(a, reinterpret_cast<const __half*>(dx.get()), dy.get(),
                                     reinterpret_cast<const __half*>(dres.get()), nullptr),
                cudaSuccess);
      const std::vector<uint8_t> bytes = dy.to_host();
      std::vector<float> got(ny);
      for (std::size_t i = 0; i < ny; ++i) {
        if (c.out_float) {
          std::memcpy(&got[i], &bytes[4 * i], 4);
        } else {
          uint16_t h;
          std::memcpy(&h, &bytes[2 * i], 2);
          got[i] = static_cast<float>(half_value(h));
        }
        worst = std::max(worst, std::fabs(got[i] - want.y[i]) / want.bound[i]);
      }
      expect_close(got, want.y, want.bound, c.name);
    });
    RecordProperty(c.name, std::to_string(worst));
  }
}

// The half arithmetic is really there: on the 1,152-term reduction, outputs
// rounded through half partial sums differ from the same weights and inputs
// summed in double and rounded once (a kernel that accumulated in float would
// match that within 1 half ulp everywhere). Guards the test above against
// passing for the wrong reason.
TEST(CudaEmuConvFp16, AccumulatesInHalf) {
  if (ecg::cuda_emu::race_detection()) GTEST_SKIP() << "numerics only";
  const Case c = cases()[4];
  const Conv2dShape& s = c.s;
  Lcg rng{99u};
  int8::ConvInt8Params p;
  p.shape = s;
  std::vector<int8_t> w(static_cast<std::size_t>(s.K) * s.C * s.R * s.S);
  for (auto& v : w) v = static_cast<int8_t>(rng.next(-127, 127));
  const std::vector<float> s_w(s.K, 1.f / 256);  // staged weights q / 256, m = 1
  const ecg::cuda::ConvFp16Packed packed =
      ecg::cuda::pack_conv_fp16(p, w.data(), s_w.data(), 1.f, false);
  const std::vector<uint16_t> x =
      half_inputs(static_cast<std::size_t>(s.H) * s.W * s.C, 5u, -2.f, 2.f);
  const Fp16Reference want = fp16_conv_reference(s, false, false, false, w.data(), s_w.data(),
                                                 packed.bias.data(), half_values(x), {});
  const std::size_t ny = want.y.size();
  DeviceBuffer<int8_t> dw(packed.weights);
  DeviceBuffer<uint32_t> dstage(packed.stage);
  DeviceBuffer<float> dscale(packed.scale), dbias(packed.bias);
  DeviceBuffer<uint16_t> dx(x), dy(ny);
  ecg::cuda::ConvFp16Args a = packed.args;
  a.w = reinterpret_cast<const signed char*>(dw.get());
  a.w_stage = dstage.get(), a.scale = dscale.get(), a.bias = dbias.get();
  ASSERT_EQ(ecg::cuda::conv_fp16(a, reinterpret_cast<const __half*>(dx.get()), dy.get(), nullptr,
                                 nullptr),
            cudaSuccess);
  const std::vector<uint16_t> got = dy.to_host();
  std::size_t beyond_one_ulp = 0;
  for (std::size_t i = 0; i < ny; ++i) {
    const double once = half_value(to_half_bits(static_cast<float>(want.y[i])));
    const double ulp = std::ldexp(1.0, std::ilogb(std::max(std::fabs(once), 0x1p-14)) - 10);
    if (std::fabs(half_value(got[i]) - once) > ulp) ++beyond_one_ulp;
  }
  EXPECT_GT(beyond_one_ulp, 0u) << "no output shows half accumulation";
}

// ---- pools and add ------------------------------------------------------------

struct PoolCase {
  std::string name;
  ecg::cuda::PoolFp16Args a;
};

ecg::cuda::PoolFp16Args pool(int N, int C, int H, int W, int R, int st, int pt, int pl, int pb,
                             int pr) {
  ecg::cuda::PoolFp16Args a{};
  a.N = N, a.C = C, a.H = H, a.W = W, a.R = R, a.S = R, a.stride_h = st, a.stride_w = st;
  a.pad_top = pt, a.pad_left = pl;
  a.P = (H + pt + pb - R) / st + 1;
  a.Q = (W + pl + pr - R) / st + 1;
  return a;
}

TEST(CudaEmuPoolFp16, MaxExactAverageWithinBound) {
  // The head's 8x8/8 average pool with a partial window, a 3x3/2 pool with
  // TensorFlow's asymmetric padding (windows cut at the bottom/right), odd C.
  const std::vector<PoolCase> all = {{"8x8/8", pool(2, 6, 17, 16, 8, 8, 0, 0, 7, 0)},
                                     {"3x3/2 pad 0/1", pool(1, 5, 9, 8, 3, 2, 0, 0, 1, 1)}};
  for (const PoolCase& pc : tsan_subset(all, {1})) {
    SCOPED_TRACE(pc.name);
    const auto& a = pc.a;
    const std::vector<uint16_t> x =
        half_inputs(static_cast<std::size_t>(a.N) * a.H * a.W * a.C, 3u, -3.f, 3.f);
    const std::size_t ny = static_cast<std::size_t>(a.N) * a.P * a.Q * a.C;
    std::vector<double> want_max, want_avg, bound_avg;
    for (int n = 0; n < a.N; ++n)
      for (int p = 0; p < a.P; ++p)
        for (int q = 0; q < a.Q; ++q)
          for (int c = 0; c < a.C; ++c) {
            const PoolWindowSums w =
                pool_window_sums(a, n, p, q, c, [&](std::size_t i) { return half_value(x[i]); });
            const double mx = w.max, sum = w.sum, sum_abs = w.sum_abs;
            const int count = w.count;
            want_max.push_back(mx);
            want_avg.push_back(sum / count);
            const double e = (count + 1) * kFloatUnitRoundoff * sum_abs / count;
            bound_avg.push_back(kHalfUnitRoundoff * std::fabs(sum / count) +
                                kHalfSubnormalHalfSpacing + (1 + kHalfUnitRoundoff) * e);
          }
    for_each_kernel_schedule([&](const ScheduleSpec&) {
      DeviceBuffer<uint16_t> dx(x), dmax(ny, 0xa5), davg(ny, 0xa5);
      const __half* hx = reinterpret_cast<const __half*>(dx.get());
      ASSERT_EQ(ecg::cuda::max_pool_fp16(a, hx, reinterpret_cast<__half*>(dmax.get()), nullptr),
                cudaSuccess);
      ASSERT_EQ(ecg::cuda::avg_pool_fp16(a, hx, reinterpret_cast<__half*>(davg.get()), nullptr),
                cudaSuccess);
      std::vector<float> got_max, got_avg;
      for (uint16_t h : dmax.to_host()) got_max.push_back(static_cast<float>(half_value(h)));
      for (uint16_t h : davg.to_host()) got_avg.push_back(static_cast<float>(half_value(h)));
      expect_close(got_max, want_max, 0.0, "max pool");
      expect_close(got_avg, want_avg, bound_avg, "average pool");
    });
  }
}

TEST(CudaEmuPoolFp16, AddIsTheCorrectlyRoundedHalfSum) {
  // Magnitudes over 2^20 apart (the float sum then rounds before the half
  // rounding), ties, and sums that cancel; with and without the ReLU.
  const std::size_t n = ecg::cuda_emu::race_detection() ? 300 : 1001;
  std::vector<uint16_t> a(n), b(n);
  Lcg rng{7u};
  for (std::size_t i = 0; i < n; ++i) {
    // |a|, |b| <= 2047 * 2^4 < 65504 / 2: no sum overflows.
    a[i] = to_half_bits(std::ldexp(static_cast<float>(rng.next(-2047, 2047)), rng.next(-24, 4)));
    b[i] = to_half_bits(std::ldexp(static_cast<float>(rng.next(-2047, 2047)), rng.next(-24, 4)));
  }
  for (bool relu : {false, true}) {
    SCOPED_TRACE(relu ? "relu" : "plain");
    std::vector<double> want(n);
    for (std::size_t i = 0; i < n; ++i) {
      double v = half_value(a[i]) + half_value(b[i]);
      if (relu) v = std::max(v, 0.0);
      // The correctly rounded half: double holds the sum exactly.
      want[i] = half_value(__half_as_ushort(__double2half(v)));
    }
    for_each_kernel_schedule([&](const ScheduleSpec&) {
      DeviceBuffer<uint16_t> da(a), db(b), dy(n, 0xa5);
      ASSERT_EQ(ecg::cuda::add_fp16(static_cast<long long>(n), relu,
                                    reinterpret_cast<const __half*>(da.get()),
                                    reinterpret_cast<const __half*>(db.get()),
                                    reinterpret_cast<__half*>(dy.get()), nullptr),
                cudaSuccess);
      std::vector<float> got;
      for (uint16_t h : dy.to_host()) got.push_back(static_cast<float>(half_value(h)));
      expect_close(got, want, 0.0, "add");
    });
  }
}

}  // namespace
