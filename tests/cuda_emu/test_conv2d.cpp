// Float convolution kernels of kernels/cuda/conv2d.cuh (forward,
// backward-data, backward-weights with split-K, bias gradient) on the
// emulator under three schedules, against kernels/ref in double.
//
// Tolerance (named, per op): a float sum of n products, in any order, is
// within (n + 1) * u * sum |products| of the exact sum (u = 2^-24, the unit
// roundoff; one rounding per product and per addition). The reference run on
// |x| and |w| gives sum |products| per output exactly, so the bound is tight
// per element rather than one global threshold. Split-K adds one addition per
// split; the bias one more.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/cuda/conv2d.cuh"
#include "kernels/ref/batch_norm_ref.h"
#include "kernels/ref/conv2d_ref.h"
#include "tests/cuda_emu/emu_testing.h"
#include "tests/cuda_emu/kernel_check.h"

namespace {

using ecg::Conv2dShape;
using ecg::cuda_emu::ScheduleSpec;
using namespace ecg::cuda_emu::testing;

// Odd sizes, stride 2 with TensorFlow's asymmetric "same" padding, a 1x1
// stride-2 shortcut with K over one 64-row tile, a non-square kernel with
// unequal strides, batch 1 and batch > 1, two shapes whose backward-weights
// reduction is split (four and two ways), and both row tiles of the implicit
// GEMM in every direction (igemm_config: 16 rows for M = K or C <= 16, 64 up
// to 64 (K = 33, C = 20), else 128 (K = 70, C = 65)), and 4x1 images with
// 2x1 outputs, where the backward-weights iterators carry across images at
// every step (twice per step in the 128-row tile), and a 1x1 layer with 66
// input channels whose backward-data iterator changes output channel twice
// per step. Two more for the forward's B readers and the float4 epilogue: 16
// channels at 16x16 (P*Q % 4 == 0, so whole groups of 4 columns are stored
// as float4 in all three passes; the tap table's period of 72 entries wraps
// within the reduction of 144), and a 7x7 kernel whose period lcm(8, 49) =
// 392 exceeds the table, so the forward takes the stepping iterator. The
// 3x3 stride-1 shapes with K <= 16 run the direct kernel (32 x 32 output
// tiles, 4 input channels per stage); the last two have several tiles per
// image in both directions, one with Q % 4 == 0 (float4 rows, batch 2) and
// one with asymmetric padding and C = 4 (one whole stage).
std::vector<Conv2dShape> shapes() {
  return {conv_shape(2, 3, 11, 13, 5, 3, 3, 1, 1, 1, 1, 1, 1),
          conv_shape(1, 6, 12, 10, 9, 3, 3, 2, 2, 0, 0, 1, 1),
          conv_shape(3, 4, 10, 9, 70, 1, 1, 2, 2, 0, 0, 0, 0),
          conv_shape(2, 2, 24, 23, 3, 3, 3, 1, 1, 1, 1, 1, 1),
          conv_shape(1, 3, 7, 8, 4, 2, 3, 1, 2, 1, 0, 0, 2),
          conv_shape(1, 1, 23, 23, 2, 3, 3, 1, 1, 1, 1, 1, 1),
          conv_shape(1, 20, 9, 7, 33, 3, 3, 2, 2, 0, 0, 1, 1),
          conv_shape(1, 65, 5, 6, 8, 3, 3, 1, 1, 1, 1, 1, 1),
          conv_shape(3, 2, 4, 1, 5, 3, 1, 2, 1, 1, 0, 1, 0),
          conv_shape(3, 2, 4, 1, 70, 3, 1, 2, 1, 1, 0, 1, 0),
          conv_shape(1, 66, 3, 4, 3, 1, 1, 1, 1, 0, 0, 0, 0),
          conv_shape(1, 16, 16, 16, 16, 3, 3, 1, 1, 1, 1, 1, 1),
          conv_shape(1, 2, 9, 10, 3, 7, 7, 1, 1, 3, 3, 3, 3),
          conv_shape(2, 5, 40, 36, 16, 3, 3, 1, 1, 1, 1, 1, 1),
          conv_shape(1, 4, 35, 34, 7, 3, 3, 1, 1, 0, 1, 2, 1)};
}

// The ThreadSanitizer build keeps the small odd shape, the non-square one and
// the smallest two-way split.
std::vector<Conv2dShape> test_shapes() {
  return tsan_subset(shapes(), {0, 4, 5});
}

std::string describe(const Conv2dShape& s) {
  return "N" + std::to_string(s.N) + " C" + std::to_string(s.C) + " H" + std::to_string(s.H) +
         " W" + std::to_string(s.W) + " K" + std::to_string(s.K) + " R" + std::to_string(s.R) +
         " S" + std::to_string(s.S) + " stride " + std::to_string(s.stride_h) + "," +
         std::to_string(s.stride_w);
}

std::size_t x_size(const Conv2dShape& s) {
  return static_cast<std::size_t>(s.N) * s.C * s.H * s.W;
}
std::size_t w_size(const Conv2dShape& s) {
  return static_cast<std::size_t>(s.K) * s.C * s.R * s.S;
}
std::size_t y_size(const Conv2dShape& s) {
  return static_cast<std::size_t>(s.N) * s.K * s.P * s.Q;
}

// Per-element bound from sum |products| (abs_sum) and the number of roundings.
std::vector<double> accumulation_bound(const std::vector<double>& abs_sum, double roundings) {
  std::vector<double> b(abs_sum.size());
  for (std::size_t i = 0; i < b.size(); ++i)
    b[i] = (roundings + 1) * kFloatUnitRoundoff * abs_sum[i];
  return b;
}

TEST(CudaEmuConv2d, ForwardMatchesDoubleReference) {
  bool table_seen = false, iterator_seen = false, vec_seen = false, direct_seen = false;
  for (const Conv2dShape& s : test_shapes()) {
    SCOPED_TRACE(describe(s));
    const bool direct = ecg::cuda::conv2d_forward_direct(s);
    const bool table = !direct && ecg::cuda::conv2d_forward_table_period(s) > 0;
    direct_seen |= direct;
    table_seen |= table;
    iterator_seen |= !direct && !table;
    vec_seen |= (s.P * s.Q) % 4 == 0;
    const auto x = fill_uniform(x_size(s), 11), w = fill_uniform(w_size(s), 12);
    const auto bias = fill_uniform(s.K, 13);
    std::vector<double> want(y_size(s)), abs_sum(y_size(s));
    ecg::ref::conv2d_forward(s, to_double(x).data(), to_double(w).data(), to_double(bias).data(),
                             want.data());
    ecg::ref::conv2d_forward(s, abs_of(x).data(), abs_of(w).data(), abs_of(bias).data(),
                             abs_sum.data());
    const auto bound = accumulation_bound(abs_sum, s.C * s.R * s.S + 1);
    for_each_kernel_schedule([&](const ScheduleSpec&) {
      DeviceBuffer<float> dx(x), dw(w), db(bias), dy(y_size(s));
      ASSERT_EQ(ecg::cuda::conv2d_forward(s, dx.get(), dw.get(), db.get(), dy.get(), nullptr),
                cudaSuccess);
      expect_close(dy.to_host(), want, bound, "conv2d forward");
    });
  }
  EXPECT_TRUE(table_seen) << "no shape reads the input through the tap table";
  EXPECT_TRUE(direct_seen) << "no shape runs the direct 3x3 kernel";
  if (!ecg::cuda_emu::race_detection()) {  // the ThreadSanitizer subset keeps the smallest shapes
                                           // only
    EXPECT_TRUE(vec_seen) << "no shape stores float4 groups";
    EXPECT_TRUE(iterator_seen) << "no shape takes the stepping iterator";
  }
}

TEST(CudaEmuConv2d, FusedInferenceEpilogueMatchesConvBatchNormAddRelu) {
  // Every shape (under ThreadSanitizer one per row tile); the batch norm is
  // folded on the host.
  for (const Conv2dShape& s : tsan_subset(shapes(), {0, 6, 2})) {
    SCOPED_TRACE(describe(s));
    const auto x = fill_uniform(x_size(s), 201), w = fill_uniform(w_size(s), 202);
    const auto cb = fill_uniform(s.K, 203), gamma = fill_uniform(s.K, 204, 0.5f, 1.5f);
    const auto beta = fill_uniform(s.K, 205), mean = fill_uniform(s.K, 206);
    const auto var = fill_uniform(s.K, 207, 0.2f, 2.f), res = fill_uniform(y_size(s), 208);
    const float eps = 1e-3f;
    // Reference: conv (double) -> batch norm eval -> + residual -> ReLU.
    std::vector<double> conv(y_size(s)), abs_sum(y_size(s)), want(y_size(s));
    ecg::ref::conv2d_forward(s, to_double(x).data(), to_double(w).data(), to_double(cb).data(),
                             conv.data());
    ecg::ref::conv2d_forward<double>(s, abs_of(x).data(), abs_of(w).data(), nullptr,
                                     abs_sum.data());
    ecg::BatchNormShape bs{s.N, s.K, s.P * s.Q};
    ecg::ref::batch_norm_forward_eval<double>(bs, conv.data(), to_double(gamma).data(),
                                              to_double(beta).data(), to_double(mean).data(),
                                              to_double(var).data(), eps, false, want.data());
    std::vector<float> scale(s.K), bias(s.K);
    ecg::cuda::fold_batch_norm(s.K, cb.data(), gamma.data(), beta.data(), mean.data(), var.data(),
                               eps, scale.data(), bias.data());
    // Bound: the float accumulation ((CRS + 1) u sum|products|) scaled by
    // |scale|, plus one rounding each of scale and bias at folding and of the
    // multiply and two adds of the epilogue: 5u of the terms' magnitudes.
    std::vector<double> bound(y_size(s));
    for (std::size_t i = 0; i < want.size(); ++i) {
      const int k = static_cast<int>((i / (static_cast<std::size_t>(s.P) * s.Q)) % s.K);
      want[i] += res[i];
      const double acc_bound = (s.C * s.R * s.S + 1) * kFloatUnitRoundoff * abs_sum[i];
      const double terms =
          std::fabs(scale[k] * (conv[i] - cb[k])) + std::fabs(bias[k]) + std::fabs(res[i]);
      bound[i] = std::fabs(scale[k]) * acc_bound + 5 * kFloatUnitRoundoff * terms;
      if (want[i] < 0) want[i] = 0;  // ReLU; a clamp never increases the error
    }
    for_each_kernel_schedule([&](const ScheduleSpec&) {
      DeviceBuffer<float> dx(x), dw(w), dsc(scale), db(bias), dres(res), dy(y_size(s), 0xff);
      ASSERT_EQ(ecg::cuda::conv2d_forward_fused(s, dx.get(), dw.get(), dsc.get(), db.get(),
                                                dres.get(), true, dy.get(), nullptr),
                cudaSuccess);
      expect_close(dy.to_host(), want, bound, "fused conv + batch norm + add + ReLU");
    });
  }
}

TEST(CudaEmuConv2d, BackwardDataMatchesDoubleReference) {
  for (const Conv2dShape& s : test_shapes()) {
    SCOPED_TRACE(describe(s));
    const auto dyv = fill_uniform(y_size(s), 21), w = fill_uniform(w_size(s), 22);
    std::vector<double> want(x_size(s)), abs_sum(x_size(s));
    ecg::ref::conv2d_backward_data(s, to_double(dyv).data(), to_double(w).data(), want.data());
    ecg::ref::conv2d_backward_data(s, abs_of(dyv).data(), abs_of(w).data(), abs_sum.data());
    const auto bound = accumulation_bound(abs_sum, s.K * s.R * s.S);
    for_each_kernel_schedule([&](const ScheduleSpec&) {
      DeviceBuffer<float> ddy(dyv), dw(w), ddx(x_size(s), 0xff);  // NaN-filled: all written?
      ASSERT_EQ(ecg::cuda::conv2d_backward_data(s, ddy.get(), dw.get(), ddx.get(), nullptr),
                cudaSuccess);
      expect_close(ddx.to_host(), want, bound, "conv2d backward-data");
    });
  }
}

TEST(CudaEmuConv2d, BackwardWeightsMatchesDoubleReference) {
  bool split_seen = false;
  for (const Conv2dShape& s : test_shapes()) {
    SCOPED_TRACE(describe(s));
    const int splits = ecg::cuda::conv2d_backward_weights_splits(s);
    split_seen |= splits > 1;
    const auto x = fill_uniform(x_size(s), 31), dyv = fill_uniform(y_size(s), 32);
    std::vector<double> want_w(w_size(s)), want_b(s.K), abs_w(w_size(s)), abs_b(s.K);
    ecg::ref::conv2d_backward_weights(s, to_double(x).data(), to_double(dyv).data(), want_w.data(),
                                      want_b.data());
    ecg::ref::conv2d_backward_weights(s, abs_of(x).data(), abs_of(dyv).data(), abs_w.data(),
                                      abs_b.data());
    const double npq = static_cast<double>(s.N) * s.P * s.Q;
    const auto bound_w = accumulation_bound(abs_w, npq + splits);
    const auto bound_b = accumulation_bound(abs_b, npq);
    for_each_kernel_schedule([&](const ScheduleSpec&) {
      DeviceBuffer<float> dxv(x), ddy(dyv), ddw(w_size(s), 0xff), ddb(s.K, 0xff);
      const long long ws_floats = ecg::cuda::conv2d_backward_weights_workspace(s);
      DeviceBuffer<float> ws(static_cast<std::size_t>(ws_floats > 0 ? ws_floats : 1), 0xff);
      ASSERT_EQ(ecg::cuda::conv2d_backward_weights(s, dxv.get(), ddy.get(), ddw.get(), ddb.get(),
                                                   ws.get(), nullptr),
                cudaSuccess);
      expect_close(ddw.to_host(), want_w, bound_w,
                   "conv2d backward-weights (" + std::to_string(splits) + " splits)");
      expect_close(ddb.to_host(), want_b, bound_b, "conv2d bias gradient");
    });
  }
  EXPECT_TRUE(split_seen) << "no shape exercises the split-K path";
}

}  // namespace
