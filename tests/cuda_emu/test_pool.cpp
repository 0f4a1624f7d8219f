// Pooling kernels of kernels/cuda/pool.cuh on the emulator, three schedules,
// against kernels/ref. Max pool forward is exact (values and indices); sums
// of a few floats are bounded by (terms + 1) u sum |terms| (u = 2^-24), with
// one more rounding per division.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/cuda/pool.cuh"
#include "kernels/ref/pool_ref.h"
#include "tests/cuda_emu/emu_testing.h"
#include "tests/cuda_emu/kernel_check.h"

namespace {

using ecg::Pool2dShape;
using ecg::cuda_emu::ScheduleSpec;
using namespace ecg::cuda_emu::testing;
constexpr double u = kFloatUnitRoundoff;

Pool2dShape make_pool(int N, int C, int H, int W, int R, int S, int sh, int sw, int pt, int pl,
                      int pb, int pr) {
  Pool2dShape s;
  s.N = N, s.C = C, s.H = H, s.W = W, s.R = R, s.S = S, s.stride_h = sh, s.stride_w = sw;
  s.pad_top = pt, s.pad_left = pl, s.pad_bottom = pb, s.pad_right = pr;
  EXPECT_TRUE(ecg::pool2d_finalize(s));
  return s;
}

// 2x2/2 on odd sizes (last row/column dropped), overlapping 3x3/2 with
// asymmetric padding, the ResNet head's non-overlapping 8x8/8 on a small
// plane, and a window larger than its stride in one direction only.
std::vector<Pool2dShape> shapes() {
  return {make_pool(2, 3, 9, 11, 2, 2, 2, 2, 0, 0, 0, 0),
          make_pool(1, 4, 10, 7, 3, 3, 2, 2, 1, 0, 1, 1),
          make_pool(2, 2, 16, 17, 8, 8, 8, 8, 0, 0, 0, 0),
          make_pool(1, 3, 6, 9, 3, 2, 1, 2, 1, 1, 1, 0)};
}

std::string describe(const Pool2dShape& s) {
  return "N" + std::to_string(s.N) + " C" + std::to_string(s.C) + " " + std::to_string(s.H) + "x" +
         std::to_string(s.W) + " window " + std::to_string(s.R) + "x" + std::to_string(s.S) +
         " stride " + std::to_string(s.stride_h) + "," + std::to_string(s.stride_w);
}

TEST(CudaEmuPool, MaxPoolForwardIsExactAndBackwardMatches) {
  for (const Pool2dShape& s : tsan_subset(shapes(), {0, 1})) {
    SCOPED_TRACE(describe(s));
    const std::size_t nx = static_cast<std::size_t>(s.N) * s.C * s.H * s.W;
    const std::size_t ny = static_cast<std::size_t>(s.N) * s.C * s.P * s.Q;
    // Coarse values so ties occur: the first maximum must win, as in the reference.
    auto x = fill_uniform(nx, 71);
    for (float& v : x) v = std::round(v * 4.f) / 4.f;
    std::vector<float> y_ref(ny);
    std::vector<int32_t> arg_ref(ny);
    ecg::ref::max_pool_forward(s, x.data(), y_ref.data(), arg_ref.data());
    const auto dyv = fill_uniform(ny, 72);
    std::vector<double> dx_ref(nx), dx_abs(nx);
    ecg::ref::max_pool_backward(s, to_double(dyv).data(), arg_ref.data(), dx_ref.data());
    ecg::ref::max_pool_backward(s, abs_of(dyv).data(), arg_ref.data(), dx_abs.data());
    const int covers =
        ((s.R + s.stride_h - 1) / s.stride_h) * ((s.S + s.stride_w - 1) / s.stride_w);
    std::vector<double> bound(nx);
    for (std::size_t i = 0; i < nx; ++i) bound[i] = covers * u * dx_abs[i];
    for_each_kernel_schedule([&](const ScheduleSpec&) {
      DeviceBuffer<float> dx(x), dy(ny, 0xff);
      DeviceBuffer<int> darg(ny, 0x7f);
      ASSERT_EQ(ecg::cuda::max_pool_forward(s, dx.get(), dy.get(), darg.get(), nullptr),
                cudaSuccess);
      EXPECT_EQ(dy.to_host(), y_ref);
      const std::vector<int> arg = darg.to_host();
      EXPECT_EQ(std::vector<int32_t>(arg.begin(), arg.end()), arg_ref);
      DeviceBuffer<float> ddy(dyv), ddx(nx, 0xff);
      ASSERT_EQ(ecg::cuda::max_pool_backward(s, ddy.get(), darg.get(), ddx.get(), nullptr),
                cudaSuccess);
      expect_close(ddx.to_host(), dx_ref, bound, "max pool backward");
    });
  }
}

TEST(CudaEmuPool, AvgPoolForwardAndBackwardMatchDoubleReference) {
  for (const Pool2dShape& s : tsan_subset(shapes(), {0, 1})) {
    SCOPED_TRACE(describe(s));
    const std::size_t nx = static_cast<std::size_t>(s.N) * s.C * s.H * s.W;
    const std::size_t ny = static_cast<std::size_t>(s.N) * s.C * s.P * s.Q;
    const auto x = fill_uniform(nx, 81), dyv = fill_uniform(ny, 82);
    std::vector<double> y(ny), y_abs(ny), dx(nx), dx_abs(nx);
    ecg::ref::avg_pool_forward(s, to_double(x).data(), y.data());
    ecg::ref::avg_pool_forward(s, abs_of(x).data(), y_abs.data());
    ecg::ref::avg_pool_backward(s, to_double(dyv).data(), dx.data());
    ecg::ref::avg_pool_backward(s, abs_of(dyv).data(), dx_abs.data());
    // Forward: R*S additions and a division. Backward: a division per term,
    // then at most `covers` additions.
    const int covers =
        ((s.R + s.stride_h - 1) / s.stride_h) * ((s.S + s.stride_w - 1) / s.stride_w);
    std::vector<double> by(ny), bdx(nx);
    for (std::size_t i = 0; i < ny; ++i) by[i] = (s.R * s.S + 1) * u * y_abs[i];
    for (std::size_t i = 0; i < nx; ++i) bdx[i] = (covers + 1) * u * dx_abs[i];
    for_each_kernel_schedule([&](const ScheduleSpec&) {
      DeviceBuffer<float> dxv(x), dy(ny, 0xff), ddy(dyv), ddx(nx, 0xff);
      ASSERT_EQ(ecg::cuda::avg_pool_forward(s, dxv.get(), dy.get(), nullptr), cudaSuccess);
      expect_close(dy.to_host(), y, by, "avg pool forward");
      ASSERT_EQ(ecg::cuda::avg_pool_backward(s, ddy.get(), ddx.get(), nullptr), cudaSuccess);
      expect_close(ddx.to_host(), dx, bdx, "avg pool backward");
    });
  }
}

TEST(CudaEmuPool, GlobalAvgPoolMatchesDoubleReference) {
  // 9 planes: a second block with one warp busy; HW under and over a warp.
  for (int HW : tsan_subset(std::vector<int>{1, 19, 97}, {1})) {
    const int N = 3, C = 3;
    const std::size_t nx = static_cast<std::size_t>(N) * C * HW;
    const auto x = fill_uniform(nx, 91), dyv = fill_uniform(N * C, 92);
    std::vector<double> y(N * C), y_abs(N * C), dx(nx);
    ecg::ref::global_avg_pool_forward(N, C, HW, to_double(x).data(), y.data());
    ecg::ref::global_avg_pool_forward(N, C, HW, abs_of(x).data(), y_abs.data());
    ecg::ref::global_avg_pool_backward(N, C, HW, to_double(dyv).data(), dx.data());
    // Forward: ceil(HW/32) strided additions, 5 shuffle levels, one division.
    std::vector<double> by(N * C);
    for (int i = 0; i < N * C; ++i) by[i] = ((HW + 31) / 32 + 6) * u * y_abs[i];
    std::vector<double> bdx(nx);
    for (std::size_t i = 0; i < nx; ++i) bdx[i] = u * std::fabs(dx[i]);  // one division
    for_each_kernel_schedule([&](const ScheduleSpec&) {
      DeviceBuffer<float> dxv(x), dy(N * C, 0xff), ddy(dyv), ddx(nx, 0xff);
      ASSERT_EQ(ecg::cuda::global_avg_pool_forward(N, C, HW, dxv.get(), dy.get(), nullptr),
                cudaSuccess);
      expect_close(dy.to_host(), y, by, "global avg pool forward HW " + std::to_string(HW));
      ASSERT_EQ(ecg::cuda::global_avg_pool_backward(N, C, HW, ddy.get(), ddx.get(), nullptr),
                cudaSuccess);
      expect_close(ddx.to_host(), dx, bdx, "global avg pool backward");
    });
  }
}

}  // namespace
