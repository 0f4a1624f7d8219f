// Batch norm kernels of kernels/cuda/batch_norm.cuh on the emulator, three
// schedules, against kernels/ref in double.
//
// Tolerances are derived per element from float rounding (u = 2^-24) rather
// than one global threshold. A block sum of M values rounds at most
// r = ceil(M / 256) + 8 times along any path (the thread's strided sum, five
// warp-shuffle levels, three levels over the 8 warps), so its error is at most
// r u sum |terms|. The derivation of each bound sits beside it.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "kernels/cuda/batch_norm.cuh"
#include "kernels/ref/batch_norm_ref.h"
#include "tests/cuda_emu/emu_testing.h"
#include "tests/cuda_emu/kernel_check.h"

namespace {

using ecg::BatchNormShape;
using ecg::cuda_emu::ScheduleSpec;
using namespace ecg::cuda_emu::testing;
constexpr double u = kFloatUnitRoundoff;

// Odd channel and plane sizes; a plane under one warp; N*HW over the 256
// threads of a block so the strided per-thread sums have several terms.
std::vector<BatchNormShape> shapes() {
  return {{2, 3, 37}, {1, 5, 300}, {3, 2, 1}, {4, 7, 129}};
}

std::string describe(const BatchNormShape& s) {
  return "N" + std::to_string(s.N) + " C" + std::to_string(s.C) + " HW" + std::to_string(s.HW);
}

double block_sum_roundings(const BatchNormShape& s) {
  return std::ceil(static_cast<double>(s.N) * s.HW / ecg::cuda::kBatchNormThreads) + 8;
}

TEST(CudaEmuBatchNorm, ForwardTrainMatchesDoubleReference) {
  for (const BatchNormShape& s : tsan_subset(shapes(), {2})) {
    for (bool relu : {false, true}) {
      SCOPED_TRACE(describe(s) + (relu ? " relu" : ""));
      const std::size_t n = static_cast<std::size_t>(s.N) * s.C * s.HW;
      // A mean well away from 0 makes the two-pass variance matter.
      const auto x = fill_uniform(n, 41, 0.5f, 2.5f);
      const auto gamma = fill_uniform(s.C, 42, 0.5f, 1.5f), beta = fill_uniform(s.C, 43);
      const float eps = 1e-3f;
      std::vector<double> y(n), mean(s.C), invstd(s.C), var(s.C);
      ecg::ref::batch_norm_forward_train<double>(s, to_double(x).data(), to_double(gamma).data(),
                                                 to_double(beta).data(), eps, relu, y.data(),
                                                 mean.data(), invstd.data(), var.data());
      // Bounds: mean dm = (r+1) u mean|x|; var dv = (r+4) u var + 2 dm mean|x - mean|;
      // invstd relative di = dv / (2 (var + eps)) + 3u (add, sqrt, divide);
      // y = gamma invstd (x - mean) + beta: |gamma| invstd (dm + u|d|) + |y - beta| (di + u)
      // + 2u (|y - beta| + |beta|) for the multiply and add.
      const double r = block_sum_roundings(s);
      std::vector<double> bm(s.C), bv(s.C), bi(s.C), by(n);
      for (int c = 0; c < s.C; ++c) {
        double abs_x = 0, abs_d = 0;
        for (int b = 0; b < s.N; ++b)
          for (int i = 0; i < s.HW; ++i) {
            const double xv = x[(static_cast<std::size_t>(b) * s.C + c) * s.HW + i];
            abs_x += std::fabs(xv);
            abs_d += std::fabs(xv - mean[c]);
          }
        const double M = static_cast<double>(s.N) * s.HW;
        bm[c] = (r + 1) * u * abs_x / M;
        bv[c] = (r + 4) * u * var[c] + 2 * bm[c] * abs_d / M;
        const double di = bv[c] / (2 * (var[c] + eps)) + 3 * u;
        bi[c] = di * invstd[c];
        for (int b = 0; b < s.N; ++b)
          for (int i = 0; i < s.HW; ++i) {
            const std::size_t idx = (static_cast<std::size_t>(b) * s.C + c) * s.HW + i;
            const double d = x[idx] - mean[c], z = std::fabs(gamma[c] * invstd[c] * d);
            by[idx] = std::fabs(gamma[c]) * invstd[c] * (bm[c] + u * std::fabs(d)) + z * (di + u) +
                      2 * u * (z + std::fabs(beta[c]));
          }
      }
      for_each_kernel_schedule([&](const ScheduleSpec&) {
        DeviceBuffer<float> dx(x), dg(gamma), db(beta), dy(n, 0xff), dm(s.C, 0xff), di(s.C, 0xff),
            dv(s.C, 0xff);
        ASSERT_EQ(
            ecg::cuda::batch_norm_forward_train(s, dx.get(), dg.get(), db.get(), eps, relu,
                                                dy.get(), dm.get(), di.get(), dv.get(), nullptr),
            cudaSuccess);
        expect_close(dm.to_host(), mean, bm, "batch mean");
        expect_close(dv.to_host(), var, bv, "batch variance");
        expect_close(di.to_host(), invstd, bi, "invstd");
        expect_close(dy.to_host(), y, by, "normalised output");
      });
    }
  }
}

// The running-statistics update is specified in double with one rounding per
// value, so the kernel must give the reference's bits (odd C over one and two blocks).
TEST(CudaEmuBatchNorm, RunningStatisticsUpdateIsBitExact) {
  for (int C : {1, 37, 300}) {
    const auto bm = fill_uniform(C, 61, -2.f, 2.f), bv = fill_uniform(C, 62, 0.f, 3.f),
               rm0 = fill_uniform(C, 63, -1.f, 1.f), rv0 = fill_uniform(C, 64, 0.5f, 1.5f);
    std::vector<float> rm = rm0, rv = rv0;
    const double m = 0.99, unbias = 130.0 / 129.0;
    ecg::ref::batch_norm_update_running<float>(C, m, unbias, bm.data(), bv.data(), rm.data(),
                                               rv.data());
    for_each_kernel_schedule([&](const ScheduleSpec&) {
      DeviceBuffer<float> dbm(bm), dbv(bv), drm(rm0), drv(rv0);
      ASSERT_EQ(ecg::cuda::batch_norm_update_running(C, m, unbias, dbm.get(), dbv.get(), drm.get(),
                                                     drv.get(), nullptr),
                cudaSuccess);
      EXPECT_EQ(drm.to_host(), rm) << "running mean, C " << C;
      EXPECT_EQ(drv.to_host(), rv) << "running variance, C " << C;
    });
  }
}

TEST(CudaEmuBatchNorm, ForwardEvalMatchesDoubleReference) {
  const BatchNormShape s{3, 5, 41};
  const std::size_t n = static_cast<std::size_t>(s.N) * s.C * s.HW;
  const auto x = fill_uniform(n, 51, -2.f, 2.f), gamma = fill_uniform(s.C, 52),
             beta = fill_uniform(s.C, 53), rm = fill_uniform(s.C, 54),
             rv = fill_uniform(s.C, 55, 0.1f, 2.f);
  for (bool relu : {false, true}) {
    std::vector<double> y(n);
    ecg::ref::batch_norm_forward_eval<double>(s, to_double(x).data(), to_double(gamma).data(),
                                              to_double(beta).data(), to_double(rm).data(),
                                              to_double(rv).data(), 1e-3f, relu, y.data());
    // invstd: add, sqrt, divide (3u relative); then gamma*invstd, (x - rm), product, add:
    // 7u of |gamma invstd (x - rm)| + u |beta|.
    std::vector<double> bound(n);
    for (std::size_t i = 0; i < n; ++i) {
      const int c = static_cast<int>((i / s.HW) % s.C);
      const double z = std::fabs(gamma[c] * (x[i] - rm[c]) / std::sqrt(rv[c] + 1e-3));
      bound[i] = 7 * u * z + u * std::fabs(beta[c]);
    }
    for_each_kernel_schedule([&](const ScheduleSpec&) {
      DeviceBuffer<float> dx(x), dg(gamma), db(beta), drm(rm), drv(rv), dy(n, 0xff);
      ASSERT_EQ(ecg::cuda::batch_norm_forward_eval(s, dx.get(), dg.get(), db.get(), drm.get(),
                                                   drv.get(), 1e-3f, relu, dy.get(), nullptr),
                cudaSuccess);
      expect_close(dy.to_host(), y, bound, relu ? "eval output (relu)" : "eval output");
    });
  }
}

TEST(CudaEmuBatchNorm, BackwardMatchesDoubleReference) {
  for (const BatchNormShape& s : tsan_subset(shapes(), {2})) {
    for (bool relu : {false, true}) {
      SCOPED_TRACE(describe(s) + (relu ? " relu" : ""));
      const std::size_t n = static_cast<std::size_t>(s.N) * s.C * s.HW;
      const auto x = fill_uniform(n, 61, -1.f, 3.f), dyv = fill_uniform(n, 62);
      const auto yv = fill_uniform(n, 63), gamma = fill_uniform(s.C, 64, 0.5f, 1.5f);
      const auto mean = fill_uniform(s.C, 65, 0.5f, 1.5f),
                 invstd = fill_uniform(s.C, 66, 0.5f, 2.f);
      std::vector<double> dx(n), dg(s.C), db(s.C);
      ecg::ref::batch_norm_backward<double>(s, to_double(x).data(), to_double(yv).data(),
                                            to_double(dyv).data(), to_double(gamma).data(),
                                            to_double(mean).data(), to_double(invstd).data(), relu,
                                            dx.data(), dg.data(), db.data());
      // dbeta: (r+1) u sum|g|. dgamma: each term g (x - mean) invstd rounds 3 times:
      // (r+4) u sum|g xhat|. dx = k (g - mg - xhat mgx), k = gamma invstd:
      // |k| ((e_dbeta + |xhat| e_dgamma) / M + 6u (|g| + |mg| + |xhat mgx|)).
      const double r = block_sum_roundings(s), M = static_cast<double>(s.N) * s.HW;
      std::vector<double> bdb(s.C), bdg(s.C), bdx(n);
      for (int c = 0; c < s.C; ++c) {
        double sg = 0, sgx = 0;
        for (int b = 0; b < s.N; ++b)
          for (int i = 0; i < s.HW; ++i) {
            const std::size_t idx = (static_cast<std::size_t>(b) * s.C + c) * s.HW + i;
            const double g = relu && !(yv[idx] > 0) ? 0 : dyv[idx];
            sg += std::fabs(g);
            sgx += std::fabs(g * (x[idx] - mean[c]) * invstd[c]);
          }
        bdb[c] = (r + 1) * u * sg;
        bdg[c] = (r + 4) * u * sgx;
        const double k = std::fabs(gamma[c] * invstd[c]);
        for (int b = 0; b < s.N; ++b)
          for (int i = 0; i < s.HW; ++i) {
            const std::size_t idx = (static_cast<std::size_t>(b) * s.C + c) * s.HW + i;
            const double g = relu && !(yv[idx] > 0) ? 0 : dyv[idx];
            const double xhat = std::fabs((x[idx] - mean[c]) * invstd[c]);
            const double e = std::fabs(g) + std::fabs(db[c] / M) + xhat * std::fabs(dg[c] / M);
            bdx[idx] = k * ((bdb[c] + xhat * bdg[c]) / M + 6 * u * e);
          }
      }
      for_each_kernel_schedule([&](const ScheduleSpec&) {
        DeviceBuffer<float> ddx(n, 0xff), ddg(s.C, 0xff), ddb(s.C, 0xff);
        DeviceBuffer<float> dxv(x), dyy(yv), ddy(dyv), dgam(gamma), dmean(mean), dinv(invstd);
        ASSERT_EQ(ecg::cuda::batch_norm_backward(s, dxv.get(), dyy.get(), ddy.get(), dgam.get(),
                                                 dmean.get(), dinv.get(), relu, ddx.get(),
                                                 ddg.get(), ddb.get(), nullptr),
                  cudaSuccess);
        expect_close(ddb.to_host(), db, bdb, "dbeta");
        expect_close(ddg.to_host(), dg, bdg, "dgamma");
        expect_close(ddx.to_host(), dx, bdx, "dx");
      });
    }
  }
}

}  // namespace
