// INT8 pools and add (kernels/cuda/pool_int8.cuh) on the emulator, byte for
// byte against the integer reference, three schedules; built as sm_53 and
// sm_61 with the other int8 tests.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/cuda/pool_int8.cuh"
#include "kernels/ref/int8_ref.h"
#include "tests/cuda_emu/emu_testing.h"
#include "tests/cuda_emu/kernel_check.h"

namespace {

using ecg::Pool2dShape;
using ecg::cuda_emu::ScheduleSpec;
using namespace ecg::cuda_emu::testing;
namespace int8 = ecg::int8;

std::vector<int8_t> random_bytes(std::size_t n, uint32_t seed) {
  std::vector<int8_t> v(n);
  for (auto& b : v) {
    seed = seed * 1664525u + 1013904223u;
    b = static_cast<int8_t>(static_cast<int>(seed >> 24) - 128);
  }
  return v;
}

// int8_api.h's encoding of M (M0 = round(m 2^31), t = 31 + n), without the
// library's make_requant (these tests link only the emulator).
int8::Requant requant_of(double M) {
  int e = 0;
  const double m = std::frexp(M, &e);
  long long m0 = std::llround(m * 2147483648.0);
  int t = 31 - e;
  if (m0 == (1LL << 31)) m0 = 1LL << 30, --t;
  return int8::Requant{static_cast<int32_t>(m0), t};
}

Pool2dShape pool(int N, int C, int H, int W, int R, int st, int pt, int pl, int pb, int pr) {
  Pool2dShape s;
  s.N = N, s.C = C, s.H = H, s.W = W, s.R = R, s.S = R, s.stride_h = st, s.stride_w = st;
  s.pad_top = pt, s.pad_left = pl, s.pad_bottom = pb, s.pad_right = pr;
  EXPECT_TRUE(ecg::pool2d_finalize(s));
  return s;
}

ecg::cuda::PoolInt8Args args_of(const Pool2dShape& s) {
  ecg::cuda::PoolInt8Args a{};
  a.N = s.N, a.C = s.C, a.H = s.H, a.W = s.W, a.R = s.R, a.S = s.S;
  a.stride_h = s.stride_h, a.stride_w = s.stride_w, a.pad_top = s.pad_top;
  a.pad_left = s.pad_left, a.P = s.P, a.Q = s.Q;
  return a;
}

// 2x2/2 on odd sizes, 3x3/2 with TensorFlow's asymmetric padding (windows of
// 4, 6 and 9 elements), the ResNet head's 8x8/8 on a small plane.
std::vector<Pool2dShape> shapes() {
  return {pool(2, 5, 9, 11, 2, 2, 0, 0, 0, 0), pool(1, 3, 10, 7, 3, 2, 1, 1, 1, 1),
          pool(2, 4, 16, 17, 8, 8, 0, 0, 0, 0)};
}

TEST(CudaEmuPoolInt8, MaxAndAveragePoolAreByteExact) {
  uint32_t seed = 900;
  for (const Pool2dShape& s : tsan_subset(shapes(), {1})) {
    SCOPED_TRACE("window " + std::to_string(s.R) + " stride " + std::to_string(s.stride_h));
    const auto x = random_bytes(static_cast<std::size_t>(s.N) * s.H * s.W * s.C, ++seed);
    const std::size_t ny = static_cast<std::size_t>(s.N) * s.P * s.Q * s.C;
    std::vector<int8_t> want_max(ny), want_avg(ny);
    ecg::ref::max_pool_int8(s, x.data(), want_max.data());
    int8::AvgPoolInt8Params prm;
    prm.shape = s;
    prm.zp_in = -3, prm.zp_out = 4, prm.qmin = -128, prm.qmax = 127;
    // Output scale 0.7 of the input's: some averages saturate.
    for (int count = 0; count <= s.R * s.S; ++count)
      prm.requant_by_count.push_back(count ? requant_of(1.0 / (0.7 * count)) : int8::Requant{});
    ecg::ref::avg_pool_int8(prm, x.data(), want_avg.data());
    std::vector<int32_t> m0, shift;
    for (const int8::Requant& r : prm.requant_by_count)
      m0.push_back(r.m0), shift.push_back(r.shift);
    for_each_kernel_schedule([&](const ScheduleSpec&) {
      DeviceBuffer<int8_t> dx(x), dmax(ny, 0xa5), davg(ny, 0xa5);
      DeviceBuffer<int32_t> dm0(m0), dshift(shift);
      ecg::cuda::PoolInt8Args a = args_of(s);
      ASSERT_EQ(ecg::cuda::max_pool_int8(a, reinterpret_cast<const signed char*>(dx.get()),
                                         reinterpret_cast<signed char*>(dmax.get()), nullptr),
                cudaSuccess);
      EXPECT_EQ(dmax.to_host(), want_max);
      a.zp_in = prm.zp_in, a.zp_out = prm.zp_out, a.qmin = prm.qmin, a.qmax = prm.qmax;
      a.m0 = dm0.get(), a.shift = dshift.get();
      ASSERT_EQ(ecg::cuda::avg_pool_int8(a, reinterpret_cast<const signed char*>(dx.get()),
                                         reinterpret_cast<signed char*>(davg.get()), nullptr),
                cudaSuccess);
      EXPECT_EQ(davg.to_host(), want_avg);
    });
  }
}

TEST(CudaEmuPoolInt8, AddIsByteExact) {
  const std::size_t n = 777;
  const auto a = random_bytes(n, 31), b = random_bytes(n, 32);
  int8::AddRequant p;
  p.zp_a = 5, p.zp_b = -7, p.mul_a = 3 << 18, p.mul_b = 1 << 19, p.shift = 20;
  p.zp_out = 1, p.qmin = 1, p.qmax = 127;  // ReLU after the add
  std::vector<int8_t> want(n);
  ecg::ref::add_int8(static_cast<int64_t>(n), a.data(), b.data(), p, want.data());
  const ecg::cuda::AddInt8Args d{p.zp_a,  p.zp_b,   p.mul_a, p.mul_b,
                                 p.shift, p.zp_out, p.qmin,  p.qmax};
  for_each_kernel_schedule([&](const ScheduleSpec&) {
    DeviceBuffer<int8_t> da(a), db(b), dy(n, 0xa5);
    ASSERT_EQ(ecg::cuda::add_int8(static_cast<long long>(n), d,
                                  reinterpret_cast<const signed char*>(da.get()),
                                  reinterpret_cast<const signed char*>(db.get()),
                                  reinterpret_cast<signed char*>(dy.get()), nullptr),
              cudaSuccess);
    EXPECT_EQ(dy.to_host(), want);
  });
}

}  // namespace
