#include "layers/sync_batch_norm.h"

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <vector>

#include "core/collective.h"
#include "core/ops_common.h"

namespace ecg {

namespace {

struct Planes {
  int N, C, HW;
  long offset(int n, int c) const { return (static_cast<long>(n) * C + c) * HW; }
};

// Per channel: the sums of x and x^2 over this rank's planes, in double.
void local_moments(const Planes& s, const float* x, double* sum, double* sq) {
#pragma omp parallel for schedule(static)
  for (int c = 0; c < s.C; ++c) {
    double a = 0, b = 0;
    for (int n = 0; n < s.N; ++n) {
      const float* xp = x + s.offset(n, c);
      for (int i = 0; i < s.HW; ++i) {
        const double v = xp[i];
        a += v;
        b += v * v;
      }
    }
    sum[c] = a;
    sq[c] = b;
  }
}

// The gradient that reaches the normalisation: dy, masked by y > 0 when the
// ReLU is fused.
inline float bn_grad(bool fuse_relu, float y, float dy) {
  return fuse_relu && !(y > 0.f) ? 0.f : dy;
}

}  // namespace

Tensor sync_batch_norm(const Tensor& x_in, const Tensor& gamma_in, const Tensor& beta_in,
                       Tensor& running_mean, Tensor& running_var, const BatchNormOptions& opt) {
  const char* op = "sync_batch_norm";
  ECG_CHECK(x_in.dtype() == DType::F32 && x_in.device().type == DeviceType::CPU, op,
            ": --sync-bn runs on f32 CPU tensors, got ", dtype_name(x_in.dtype()), " on ",
            x_in.device().name());
  ECG_CHECK(x_in.dim() == 2 || x_in.dim() == 4, op, ": input must be [N, C] or [N, C, H, W], got ",
            shape_str(x_in.shape()));
  const Planes s{static_cast<int>(x_in.size(0)), static_cast<int>(x_in.size(1)),
                 x_in.dim() == 4 ? static_cast<int>(x_in.size(2) * x_in.size(3)) : 1};
  for (const Tensor* t :
       std::initializer_list<const Tensor*>{&gamma_in, &beta_in, &running_mean, &running_var})
    ECG_CHECK(t->numel() == s.C && t->is_contiguous() && t->dtype() == DType::F32, op,
              ": per-channel tensors must be contiguous f32 with ", s.C, " values");
  Tensor x = x_in.contiguous(), gamma = gamma_in.contiguous(), beta = beta_in.contiguous();
  const size_t C = static_cast<size_t>(s.C);
  // [sum x (C), sum x^2 (C), count]: one ordered reduction per forward.
  std::vector<double> stats(2 * C + 1);
  local_moments(s, x.data<float>(), stats.data(), stats.data() + C);
  stats[2 * C] = static_cast<double>(s.N) * s.HW;
  collective().allreduce_sum_ordered(stats.data(), stats.size());
  const double count = stats[2 * C];
  ECG_CHECK(count > 1, op, ": training needs more than one value per channel over all ranks, got ",
            count);

  std::vector<float> mean(C), invstd(C), var(C);
  for (size_t c = 0; c < C; ++c) {
    const double m = stats[c] / count;
    const double v = std::max(0.0, stats[C + c] / count - m * m);
    mean[c] = static_cast<float>(m);
    var[c] = static_cast<float>(v);
    invstd[c] = static_cast<float>(1.0 / std::sqrt(v + opt.eps));
  }
  Tensor y = Tensor::empty(x.shape());
  const float *xp = x.data<float>(), *gp = gamma.data<float>(), *bp = beta.data<float>();
  float* yp = y.data<float>();
#pragma omp parallel for schedule(static)
  for (int c = 0; c < s.C; ++c) {
    const float scale = gp[c] * invstd[c], bias = bp[c] - mean[c] * scale;
    for (int n = 0; n < s.N; ++n) {
      const long off = s.offset(n, c);
      for (int i = 0; i < s.HW; ++i) {
        const float v = xp[off + i] * scale + bias;
        yp[off + i] = opt.fuse_relu ? std::max(v, 0.f) : v;
      }
    }
  }
  {
    // As batch_norm_update_running: in double, one rounding per value.
    const double m = opt.momentum, unbias = count / (count - 1);
    float *rm = running_mean.data<float>(), *rv = running_var.data<float>();
    for (size_t c = 0; c < C; ++c) {
      rm[c] = static_cast<float>(m * rm[c] + (1 - m) * mean[c]);
      rv[c] = static_cast<float>(m * rv[c] + (1 - m) * static_cast<double>(var[c]) * unbias);
    }
  }

  Tensor xs = x.detach(), ys = y.detach(), gs = gamma.detach();
  detail::record("SyncBatchNormBackward", {x_in, gamma_in, beta_in}, y,
                 [s, xs, ys, gs, mean, invstd, count, opt](const Tensor& g_in) {
                   const Tensor g = g_in.contiguous();
                   const size_t C = static_cast<size_t>(s.C);
                   const float *x = xs.data<float>(), *y = ys.data<float>(), *dy = g.data<float>();
                   // [sum g (C), sum g * (x - mean) (C)] on this rank, then over all ranks.
                   std::vector<double> sums(2 * C);
#pragma omp parallel for schedule(static)
                   for (int c = 0; c < s.C; ++c) {
                     double a = 0, b = 0;
                     for (int n = 0; n < s.N; ++n) {
                       const long off = s.offset(n, c);
                       for (int i = 0; i < s.HW; ++i) {
                         const float gv = bn_grad(opt.fuse_relu, y[off + i], dy[off + i]);
                         a += gv;
                         b += static_cast<double>(gv) * (x[off + i] - mean[c]);
                       }
                     }
                     sums[c] = a;
                     sums[C + c] = b;
                   }
                   Tensor dgamma = Tensor::empty({s.C}), dbeta = Tensor::empty({s.C});
                   for (size_t c = 0; c < C; ++c) {
                     dbeta.data<float>()[c] = static_cast<float>(sums[c]);
                     dgamma.data<float>()[c] = static_cast<float>(sums[C + c] * invstd[c]);
                   }
                   collective().allreduce_sum_ordered(sums.data(), sums.size());
                   Tensor dx = Tensor::empty(xs.shape());
                   float* dxp = dx.data<float>();
                   const float* gam = gs.data<float>();
#pragma omp parallel for schedule(static)
                   for (int c = 0; c < s.C; ++c) {
                     // dx = k * (g - sum_g/M - (x - mean) * invstd * sum_gx_hat/M), k = gamma *
                     // invstd.
                     const float k = gam[c] * invstd[c];
                     const float mg = static_cast<float>(sums[c] / count);
                     const float mx =
                         static_cast<float>(sums[C + c] * invstd[c] / count) * invstd[c];
                     for (int n = 0; n < s.N; ++n) {
                       const long off = s.offset(n, c);
                       for (int i = 0; i < s.HW; ++i) {
                         const float gv = bn_grad(opt.fuse_relu, y[off + i], dy[off + i]);
                         dxp[off + i] = k * (gv - mg - (x[off + i] - mean[c]) * mx);
                       }
                     }
                   }
                   return std::vector<Tensor>{dx, dgamma, dbeta};
                 });
  return y;
}

}  // namespace ecg
