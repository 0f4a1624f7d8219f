// Fully connected layer kernels (kernels/cuda/linear.cuh) on the emulator,
// three schedules, against kernels/ref in double. Bound per element: a float
// sum of n products is within (n + 1) u sum |products| (u = 2^-24); the
// reference on absolute values gives sum |products| exactly.
#include <string>
#include <vector>

#include "kernels/cuda/linear.cuh"
#include "kernels/ref/linear_ref.h"
#include "tests/cuda_emu/emu_testing.h"
#include "tests/cuda_emu/kernel_check.h"

namespace {

using ecg::cuda_emu::ScheduleSpec;
using namespace ecg::cuda_emu::testing;

std::vector<double> bound_of(const std::vector<double>& abs_sum, int terms) {
  std::vector<double> b(abs_sum.size());
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = (terms + 1) * kFloatUnitRoundoff * abs_sum[i];
  return b;
}

TEST(CudaEmuLinear, ForwardAndBackwardMatchDoubleReference) {
  struct Shape {
    int N, in, out;
  };
  // The study's head at a reduced width (odd, over a warp), batch 1 and 3;
  // N*out not a multiple of the 8 warps of a block.
  for (Shape sh : tsan_subset(std::vector<Shape>{{1, 1000, 4}, {3, 333, 5}, {2, 7, 9}}, {2})) {
    SCOPED_TRACE("N " + std::to_string(sh.N) + " in " + std::to_string(sh.in) + " out " +
                 std::to_string(sh.out));
    const auto x = fill_uniform(static_cast<std::size_t>(sh.N) * sh.in, 141);
    const auto w = fill_uniform(static_cast<std::size_t>(sh.out) * sh.in, 142);
    const auto b = fill_uniform(sh.out, 143);
    const auto dyv = fill_uniform(static_cast<std::size_t>(sh.N) * sh.out, 144);
    std::vector<double> y(sh.N * sh.out), ya(y.size()), dx(x.size()), dxa(x.size()), dw(w.size()),
        dwa(w.size()), db(sh.out), dba(sh.out);
    ecg::ref::linear_forward(sh.N, sh.in, sh.out, to_double(x).data(), to_double(w).data(),
                             to_double(b).data(), y.data());
    ecg::ref::linear_forward(sh.N, sh.in, sh.out, abs_of(x).data(), abs_of(w).data(),
                             abs_of(b).data(), ya.data());
    ecg::ref::linear_backward_data(sh.N, sh.in, sh.out, to_double(dyv).data(), to_double(w).data(),
                                   dx.data());
    ecg::ref::linear_backward_data(sh.N, sh.in, sh.out, abs_of(dyv).data(), abs_of(w).data(),
                                   dxa.data());
    ecg::ref::linear_backward_weights(sh.N, sh.in, sh.out, to_double(x).data(),
                                      to_double(dyv).data(), dw.data(), db.data());
    ecg::ref::linear_backward_weights(sh.N, sh.in, sh.out, abs_of(x).data(), abs_of(dyv).data(),
                                      dwa.data(), dba.data());
    for_each_kernel_schedule([&](const ScheduleSpec&) {
      DeviceBuffer<float> dx_(x), dw_(w), db_(b), dy_(dyv), out(y.size(), 0xff), gx(x.size(), 0xff),
          gw(w.size(), 0xff), gb(sh.out, 0xff);
      ASSERT_EQ(ecg::cuda::linear_forward(sh.N, sh.in, sh.out, dx_.get(), dw_.get(), db_.get(),
                                          out.get(), nullptr),
                cudaSuccess);
      expect_close(out.to_host(), y, bound_of(ya, sh.in + 1), "linear forward");
      ASSERT_EQ(ecg::cuda::linear_backward_data(sh.N, sh.in, sh.out, dy_.get(), dw_.get(), gx.get(),
                                                nullptr),
                cudaSuccess);
      expect_close(gx.to_host(), dx, bound_of(dxa, sh.out), "linear backward-data");
      ASSERT_EQ(ecg::cuda::linear_backward_weights(sh.N, sh.in, sh.out, dx_.get(), dy_.get(),
                                                   gw.get(), gb.get(), nullptr),
                cudaSuccess);
      expect_close(gw.to_host(), dw, bound_of(dwa, sh.N), "linear backward-weights");
      expect_close(gb.to_host(), db, bound_of(dba, sh.N), "linear bias gradient");
    });
  }
}

}  // namespace
