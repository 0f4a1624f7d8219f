// Elementwise kernels (kernels/cuda/elementwise.cuh: ReLU, LeakyReLU, add, Adam, SGD),
// softmax cross-entropy (kernels/cuda/softmax_xent.cuh) and the L2 penalty
// (kernels/cuda/l2_penalty.cuh) on the emulator,
// three schedules, against kernels/ref. ReLU and LeakyReLU are exact; the rest carry bounds
// counted in float roundings (u = 2^-24), derived beside each.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "kernels/cuda/elementwise.cuh"
#include "kernels/cuda/l2_penalty.cuh"
#include "kernels/cuda/softmax_xent.cuh"
#include "kernels/ref/elementwise_ref.h"
#include "kernels/ref/loss_ref.h"
#include "kernels/ref/optimizer_ref.h"
#include "tests/cuda_emu/emu_testing.h"
#include "tests/cuda_emu/kernel_check.h"

namespace {

using ecg::cuda_emu::ScheduleSpec;
using namespace ecg::cuda_emu::testing;
constexpr double u = kFloatUnitRoundoff;

// 1000 elements: several blocks of 256 threads, not a multiple of it (under
// ThreadSanitizer 300, where each emulated thread costs milliseconds).
const std::size_t kN = ecg::cuda_emu::race_detection() ? 300 : 1000;

TEST(CudaEmuElementwise, ReluAndAdd) {
  const auto x = fill_uniform(kN, 101), dyv = fill_uniform(kN, 102), b = fill_uniform(kN, 103);
  std::vector<float> y(kN), dx(kN);
  ecg::ref::relu_forward<float>(kN, x.data(), y.data());
  ecg::ref::relu_backward<float>(kN, y.data(), dyv.data(), dx.data());
  std::vector<double> sum(kN), sum_bound(kN);
  for (std::size_t i = 0; i < kN; ++i) {
    sum[i] = static_cast<double>(x[i]) + b[i];
    sum_bound[i] = u * std::fabs(sum[i]);  // one rounding
  }
  for_each_kernel_schedule([&](const ScheduleSpec&) {
    DeviceBuffer<float> dx_(x), dy(kN, 0xff), ddy(dyv), ddx(kN, 0xff), db(b), ds(kN, 0xff);
    ASSERT_EQ(ecg::cuda::relu_forward(kN, dx_.get(), dy.get(), nullptr), cudaSuccess);
    EXPECT_EQ(dy.to_host(), y);
    ASSERT_EQ(ecg::cuda::relu_backward(kN, dy.get(), ddy.get(), ddx.get(), nullptr), cudaSuccess);
    EXPECT_EQ(ddx.to_host(), dx);
    ASSERT_EQ(ecg::cuda::add_forward(kN, dx_.get(), db.get(), ds.get(), nullptr), cudaSuccess);
    expect_close(ds.to_host(), sum, sum_bound, "add");
  });
}

// The same float operations as the float reference (a compare and one
// product), so the results are exact.
TEST(CudaEmuElementwise, LeakyRelu) {
  const float slope = 0.1f;
  const auto x = fill_uniform(kN, 104), dyv = fill_uniform(kN, 105);
  std::vector<float> y(kN), dx(kN);
  ecg::ref::leaky_relu_forward<float>(kN, x.data(), slope, y.data());
  ecg::ref::leaky_relu_backward<float>(kN, x.data(), dyv.data(), slope, dx.data());
  for_each_kernel_schedule([&](const ScheduleSpec&) {
    DeviceBuffer<float> dx_(x), dy(kN, 0xff), ddy(dyv), ddx(kN, 0xff);
    ASSERT_EQ(ecg::cuda::leaky_relu_forward(kN, dx_.get(), slope, dy.get(), nullptr), cudaSuccess);
    EXPECT_EQ(dy.to_host(), y);
    ASSERT_EQ(ecg::cuda::leaky_relu_backward(kN, dx_.get(), ddy.get(), slope, ddx.get(), nullptr),
              cudaSuccess);
    EXPECT_EQ(ddx.to_host(), dx);
  });
}

TEST(CudaEmuOptimizer, AdamMatchesDoubleReference) {
  struct Variant {
    const char* name;
    bool decoupled, keras_eps;
    float wd;
  };
  for (const Variant& var :
       {Variant{"keras", false, true, 0.f}, Variant{"pytorch+L2", false, false, 1e-2f},
        Variant{"adamw", true, true, 1e-2f}}) {
    SCOPED_TRACE(var.name);
    ecg::AdamParams p;
    p.lr = 1e-3f, p.weight_decay = var.wd, p.decoupled = var.decoupled, p.keras_eps = var.keras_eps;
    p.step = 3;
    const auto w0 = fill_uniform(kN, 111), g = fill_uniform(kN, 112);
    const auto m0 = fill_uniform(kN, 113, -0.1f, 0.1f), v0 = fill_uniform(kN, 114, 0.f, 0.01f);
    std::vector<double> w = to_double(w0), m = to_double(m0), v = to_double(v0);
    ecg::ref::adam_update<double>(kN, p, w.data(), to_double(g).data(), m.data(), v.data());
    // m: g' (+ wd w: 2u), two products and a sum: 4u of the terms; v likewise
    // with g^2: 6u. The step lr' m / (sqrt(v) + eps) then adds sqrt (v's error
    // halved), add, divide, multiply and the subtraction: 4u + 3u + 5u = 12u of
    // |step|, plus u |w| for the decay and the subtraction.
    std::vector<double> bw(kN), bm(kN), bv(kN);
    for (std::size_t i = 0; i < kN; ++i) {
      const double gi = std::fabs(g[i]) + var.wd * std::fabs(w0[i]);
      bm[i] = 4 * u * (p.beta1 * std::fabs(m0[i]) + (1 - p.beta1) * gi);
      bv[i] = 6 * u * (p.beta2 * std::fabs(v0[i]) + (1 - p.beta2) * gi * gi);
      bw[i] = 12 * u * std::fabs(w[i] - w0[i]) + 2 * u * std::fabs(w0[i]);
    }
    for_each_kernel_schedule([&](const ScheduleSpec&) {
      DeviceBuffer<float> dw(w0), dg(g), dm(m0), dv(v0);
      ASSERT_EQ(ecg::cuda::adam_update(kN, p, dw.get(), dg.get(), dm.get(), dv.get(), nullptr),
                cudaSuccess);
      expect_close(dm.to_host(), m, bm, "adam m");
      expect_close(dv.to_host(), v, bv, "adam v");
      expect_close(dw.to_host(), w, bw, "adam param");
    });
  }
}

TEST(CudaEmuOptimizer, SgdMatchesDoubleReference) {
  for (int variant = 0; variant < 3; ++variant) {
    ecg::SgdParams p;
    p.lr = 0.05f;
    p.momentum = variant == 0 ? 0.f : 0.9f;
    p.weight_decay = 1e-3f;
    p.dampening = variant == 2 ? 0.1f : 0.f;
    p.nesterov = variant == 1;
    p.first_step = variant == 1;
    SCOPED_TRACE("variant " + std::to_string(variant));
    const auto w0 = fill_uniform(kN, 121), g = fill_uniform(kN, 122), b0 = fill_uniform(kN, 123);
    std::vector<double> w = to_double(w0), b = to_double(b0);
    ecg::ref::sgd_update<double>(kN, p, w.data(), to_double(g).data(), b.data());
    // g' = g + wd w (2u); buf = mom buf + (1 - damp) g' (3u + g''s 2u);
    // nesterov g' + mom buf (2u more); lr g and the subtraction (2u).
    std::vector<double> bw(kN), bb(kN);
    for (std::size_t i = 0; i < kN; ++i) {
      const double gi = std::fabs(g[i]) + p.weight_decay * std::fabs(w0[i]);
      const double bi = p.momentum * std::fabs(b0[i]) + gi;
      bb[i] = 5 * u * bi;
      bw[i] = 9 * u * p.lr * (gi + (p.momentum + 1) * bi) + u * std::fabs(w0[i]);
    }
    for_each_kernel_schedule([&](const ScheduleSpec&) {
      DeviceBuffer<float> dw(w0), dg(g), db(b0);
      ASSERT_EQ(ecg::cuda::sgd_update(kN, p, dw.get(), dg.get(), db.get(), nullptr), cudaSuccess);
      expect_close(dw.to_host(), w, bw, "sgd param");
      if (p.momentum != 0.f) expect_close(db.to_host(), b, bb, "sgd momentum buffer");
    });
  }
}

TEST(CudaEmuSoftmaxXent, ForwardAndBackwardMatchDoubleReference) {
  // 4 classes as in the study; 300 rows (over one block, so threads take two
  // rows); large logits to exercise the max subtraction; class weights on and off.
  const int N = 300, classes = 4;
  auto z = fill_uniform(static_cast<std::size_t>(N) * classes, 131, -8.f, 8.f);
  z[0] = 80.f;  // exp(80) overflows float without the max subtraction
  std::vector<float> t(static_cast<std::size_t>(N) * classes, 0.f);
  for (int n = 0; n < N; ++n) t[static_cast<std::size_t>(n) * classes + (n * 7) % classes] = 1.f;
  const std::vector<float> cw = {1.f, 2.f, 0.5f, 1.5f};
  for (bool weighted : {false, true}) {
    SCOPED_TRACE(weighted ? "class weights" : "unweighted");
    const double* cwd = nullptr;
    const auto cw_d = to_double(cw);
    if (weighted) cwd = cw_d.data();
    std::vector<double> probs(z.size()), dz(z.size());
    const double loss = ecg::ref::softmax_cross_entropy_forward<double>(
        N, classes, to_double(z).data(), to_double(t).data(), cwd, probs.data());
    ecg::ref::softmax_cross_entropy_backward<double>(N, classes, probs.data(), to_double(t).data(),
                                                     cwd, 0.5, dz.data());
    // p = exp(z - lse): the argument carries the errors of z - m, log (2 ulp on
    // a GPU) and two subtractions, about 8u |z - lse| + 8u; expf adds 2 ulp.
    // The loss is a sum over rows of w * (z - lse) terms: (N/256 + 10 + 8) u of
    // the sum of |terms| / N. dz = w (p - t) / N: p's error plus 4 roundings.
    std::vector<double> bp(z.size()), bdz(z.size());
    double loss_abs = 0;
    for (int n = 0; n < N; ++n) {
      double m = z[n * classes], se = 0;
      for (int c = 1; c < classes; ++c) m = std::max(m, static_cast<double>(z[n * classes + c]));
      for (int c = 0; c < classes; ++c) se += std::exp(z[n * classes + c] - m);
      const double l = m + std::log(se);
      const double w = weighted ? cw[(n * 7) % classes] : 1.0;
      for (int c = 0; c < classes; ++c) {
        const std::size_t i = static_cast<std::size_t>(n) * classes + c;
        const double arg = std::fabs(z[i] - l) + std::fabs(l);
        bp[i] = probs[i] * (8 * u * arg + 8 * u);
        bdz[i] = 0.5 * w / N * (bp[i] + 4 * u * (probs[i] + t[i]));
        loss_abs += w * t[i] * (std::fabs(z[i] - l) + 8 * u * arg);
      }
    }
    const double bloss = (N / 256.0 + 18) * u * loss_abs / N;
    for_each_kernel_schedule([&](const ScheduleSpec&) {
      DeviceBuffer<float> dz_(z), dt(t), dcw(cw), dp(z.size(), 0xff), dl(1, 0xff),
          ddz(z.size(), 0xff);
      const float* cw_dev = weighted ? dcw.get() : nullptr;
      ASSERT_EQ(ecg::cuda::softmax_xent_forward(N, classes, dz_.get(), dt.get(), cw_dev, dp.get(),
                                                dl.get(), nullptr),
                cudaSuccess);
      expect_close(dp.to_host(), probs, bp, "softmax probabilities");
      expect_close(dl.to_host(), std::vector<double>{loss}, bloss, "cross-entropy loss");
      ASSERT_EQ(ecg::cuda::softmax_xent_backward(N, classes, dp.get(), dt.get(), cw_dev, 0.5f,
                                                 ddz.get(), nullptr),
                cudaSuccess);
      expect_close(ddz.to_host(), dz, bdz, "dlogits");
    });
  }
}

// Forward: a float sum of n squares over one block: each thread's strided
// sum rounds ceil(n / 256) times, the block reduction 8 more (five shuffle
// levels, three over the 8 warps), each square and the final lambda product
// once: within (ceil(n / 256) + 10) u of lambda * sum w^2 (all terms
// positive). Backward: the reference's products in its order, bit for bit.
TEST(CudaEmuL2Penalty, ForwardWithinRoundingBackwardExact) {
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, kN, std::size_t{3 * kN + 7}}) {
    const auto w = fill_uniform(n, 141, -0.5f, 0.5f);
    const float lambda = 1e-4f, dloss = 0.75f;
    const double want = ecg::ref::l2_penalty_forward<double>(
        static_cast<int64_t>(n), to_double(w).data(), static_cast<double>(lambda));
    const double bound = (std::ceil(n / 256.0) + 10) * u * want;
    std::vector<float> dw_want(n);
    ecg::ref::l2_penalty_backward<float>(static_cast<int64_t>(n), w.data(), lambda, dloss,
                                         dw_want.data());
    for_each_kernel_schedule([&](const ScheduleSpec&) {
      DeviceBuffer<float> dwts(w.empty() ? std::vector<float>{0.f} : w), out(1, 0xff),
          dw(std::max<std::size_t>(n, 1), 0xff);
      ASSERT_EQ(ecg::cuda::l2_penalty_forward(static_cast<long long>(n), dwts.get(), lambda,
                                              out.get(), nullptr),
                cudaSuccess);
      EXPECT_LE(std::fabs(out.to_host()[0] - want), bound) << "forward, n " << n;
      ASSERT_EQ(ecg::cuda::l2_penalty_backward(static_cast<long long>(n), dwts.get(), lambda, dloss,
                                               dw.get(), nullptr),
                cudaSuccess);
      std::vector<float> got = dw.to_host();
      got.resize(n);
      EXPECT_EQ(got, dw_want) << "backward, n " << n;
    });
  }
}

}  // namespace
