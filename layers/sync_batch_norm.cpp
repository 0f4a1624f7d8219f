#include "layers/sync_batch_norm.h"

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <memory>
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

// The statistics of the global batch, per channel, as the forward kernel
// rounds them: mean and biased variance in double, then float.
struct GlobalStats {
  std::vector<float> mean, var, invstd;
  double count = 0;
};

GlobalStats global_statistics(const Planes& s, const float* x, double eps) {
  const size_t C = static_cast<size_t>(s.C);
  // [sum x (C), sum x^2 (C), count]: one ordered reduction per forward.
  std::vector<double> stats(2 * C + 1);
  local_moments(s, x, stats.data(), stats.data() + C);
  stats[2 * C] = static_cast<double>(s.N) * s.HW;
  collective().allreduce_sum_ordered(stats.data(), stats.size());
  GlobalStats g;
  g.count = stats[2 * C];
  ECG_CHECK(g.count > 1,
            "sync_batch_norm: training needs more than one value per channel over all ranks, got ",
            g.count);
  g.mean.resize(C), g.var.resize(C), g.invstd.resize(C);
  for (size_t c = 0; c < C; ++c) {
    const double m = stats[c] / g.count;
    const double v = std::max(0.0, stats[C + c] / g.count - m * m);
    g.mean[c] = static_cast<float>(m);
    g.var[c] = static_cast<float>(v);
    g.invstd[c] = static_cast<float>(1.0 / std::sqrt(v + eps));
  }
  return g;
}

void normalise(const Planes& s, const float* x, const float* gamma, const float* beta,
               const GlobalStats& g, bool fuse_relu, float* y) {
#pragma omp parallel for schedule(static)
  for (int c = 0; c < s.C; ++c) {
    const float scale = gamma[c] * g.invstd[c], bias = beta[c] - g.mean[c] * scale;
    for (int n = 0; n < s.N; ++n) {
      const long off = s.offset(n, c);
      for (int i = 0; i < s.HW; ++i) {
        const float v = x[off + i] * scale + bias;
        y[off + i] = fuse_relu ? std::max(v, 0.f) : v;
      }
    }
  }
}

// As batch_norm_update_running: in double, one rounding per value; the
// unbiased variance over the global count.
void update_running(const GlobalStats& g, double momentum, float* rm, float* rv) {
  const double unbias = g.count / (g.count - 1);
  for (size_t c = 0; c < g.mean.size(); ++c) {
    rm[c] = static_cast<float>(momentum * rm[c] + (1 - momentum) * g.mean[c]);
    rv[c] = static_cast<float>(momentum * rv[c] +
                               (1 - momentum) * static_cast<double>(g.var[c]) * unbias);
  }
}

// What backward saves from the forward.
struct Saved {
  Planes s;
  Tensor x, y, gamma;
  GlobalStats g;
  bool fuse_relu;
};

// dx from the global sums of dy and dy * (x - mean); dgamma and dbeta from
// this rank's (the gradient reduction adds the ranks' shares).
std::vector<Tensor> sync_bn_backward(const Saved& v, const Tensor& g_in) {
  const Tensor g = g_in.contiguous();
  const Planes& s = v.s;
  const size_t C = static_cast<size_t>(s.C);
  const float *x = v.x.data<float>(), *y = v.y.data<float>(), *dy = g.data<float>();
  const std::vector<float>&mean = v.g.mean, &invstd = v.g.invstd;
  // [sum g (C), sum g * (x - mean) (C)] on this rank, then over all ranks.
  std::vector<double> sums(2 * C);
#pragma omp parallel for schedule(static)
  for (int c = 0; c < s.C; ++c) {
    double a = 0, b = 0;
    for (int n = 0; n < s.N; ++n) {
      const long off = s.offset(n, c);
      for (int i = 0; i < s.HW; ++i) {
        const float gv = bn_grad(v.fuse_relu, y[off + i], dy[off + i]);
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
  Tensor dx = Tensor::empty(v.x.shape());
  float* dxp = dx.data<float>();
  const float* gam = v.gamma.data<float>();
  const double count = v.g.count;
#pragma omp parallel for schedule(static)
  for (int c = 0; c < s.C; ++c) {
    // dx = k (g - sum_g / M - (x - mean) invstd sum_gxhat / M), k = gamma invstd.
    const float k = gam[c] * invstd[c];
    const float mg = static_cast<float>(sums[c] / count);
    const float mx = static_cast<float>(sums[C + c] * invstd[c] / count) * invstd[c];
    for (int n = 0; n < s.N; ++n) {
      const long off = s.offset(n, c);
      for (int i = 0; i < s.HW; ++i) {
        const float gv = bn_grad(v.fuse_relu, y[off + i], dy[off + i]);
        dxp[off + i] = k * (gv - mg - (x[off + i] - mean[c]) * mx);
      }
    }
  }
  return {dx, dgamma, dbeta};
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
  GlobalStats g = global_statistics(s, x.data<float>(), opt.eps);
  Tensor y = Tensor::empty(x.shape());
  normalise(s, x.data<float>(), gamma.data<float>(), beta.data<float>(), g, opt.fuse_relu,
            y.data<float>());
  update_running(g, opt.momentum, running_mean.data<float>(), running_var.data<float>());
  auto saved = std::make_shared<Saved>(
      Saved{s, x.detach(), y.detach(), gamma.detach(), std::move(g), opt.fuse_relu});
  detail::record("SyncBatchNormBackward", {x_in, gamma_in, beta_in}, y,
                 [saved](const Tensor& g_in) { return sync_bn_backward(*saved, g_in); });
  return y;
}

}  // namespace ecg
