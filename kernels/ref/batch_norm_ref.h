// Scalar reference batch normalisation over (N, C, HW): per-channel statistics
// over N*HW values. Training normalises with the biased batch variance
// (invstd = 1/sqrt(var + eps)); the caller turns it into the unbiased variance
// for the running statistics. fuse_relu applies max(0, .) to the output and
// masks the incoming gradient by y > 0 in backward.
#pragma once
#include <cmath>

#include "kernels/kernel_api.h"

namespace ecg::ref {

template <class T>
void batch_norm_forward_train(const BatchNormShape& s, const T* x, const T* gamma, const T* beta,
                              T eps, bool fuse_relu, T* y, T* save_mean, T* save_invstd,
                              T* batch_var) {
  const long count = static_cast<long>(s.N) * s.HW;
  for (int c = 0; c < s.C; ++c) {
    T sum = 0;
    for (int n = 0; n < s.N; ++n)
      for (int i = 0; i < s.HW; ++i) sum += x[(static_cast<long>(n) * s.C + c) * s.HW + i];
    T mean = sum / static_cast<T>(count);
    T sq = 0;
    for (int n = 0; n < s.N; ++n)
      for (int i = 0; i < s.HW; ++i) {
        T d = x[(static_cast<long>(n) * s.C + c) * s.HW + i] - mean;
        sq += d * d;
      }
    T var = sq / static_cast<T>(count);
    T invstd = T(1) / std::sqrt(var + eps);
    for (int n = 0; n < s.N; ++n)
      for (int i = 0; i < s.HW; ++i) {
        long idx = (static_cast<long>(n) * s.C + c) * s.HW + i;
        T v = gamma[c] * (x[idx] - mean) * invstd + beta[c];
        y[idx] = fuse_relu && v < T(0) ? T(0) : v;
      }
    save_mean[c] = mean;
    save_invstd[c] = invstd;
    batch_var[c] = var;
  }
}

template <class T>
void batch_norm_forward_eval(const BatchNormShape& s, const T* x, const T* gamma, const T* beta,
                             const T* running_mean, const T* running_var, T eps, bool fuse_relu,
                             T* y) {
  for (int c = 0; c < s.C; ++c) {
    T invstd = T(1) / std::sqrt(running_var[c] + eps);
    for (int n = 0; n < s.N; ++n)
      for (int i = 0; i < s.HW; ++i) {
        long idx = (static_cast<long>(n) * s.C + c) * s.HW + i;
        T v = gamma[c] * (x[idx] - running_mean[c]) * invstd + beta[c];
        y[idx] = fuse_relu && v < T(0) ? T(0) : v;
      }
  }
}

// Calls f(idx, g) for every element of channel c in (n, i) order, g = dy[idx]
// masked by y > 0 when the ReLU is fused (its gradient is zero where y is).
template <class T, class F>
void for_each_bn_grad(const BatchNormShape& s, int c, const T* y, const T* dy, bool fuse_relu,
                      F&& f) {
  for (int n = 0; n < s.N; ++n)
    for (int i = 0; i < s.HW; ++i) {
      const long idx = (static_cast<long>(n) * s.C + c) * s.HW + i;
      f(idx, fuse_relu && !(y[idx] > T(0)) ? T(0) : dy[idx]);
    }
}

// With xhat = (x - mean) * invstd and g = dy (masked by y > 0 when fused):
//   dbeta = sum g, dgamma = sum g * xhat,
//   dx = gamma * invstd * (g - dbeta / M - xhat * dgamma / M), M = N * HW.
template <class T>
void batch_norm_backward(const BatchNormShape& s, const T* x, const T* y, const T* dy,
                         const T* gamma, const T* save_mean, const T* save_invstd, bool fuse_relu,
                         T* dx, T* dgamma, T* dbeta) {
  const T count = static_cast<T>(static_cast<long>(s.N) * s.HW);
  for (int c = 0; c < s.C; ++c) {
    T sum_g = 0, sum_gx = 0;
    for_each_bn_grad(s, c, y, dy, fuse_relu, [&](long idx, T g) {
      sum_g += g;
      sum_gx += g * (x[idx] - save_mean[c]) * save_invstd[c];
    });
    dbeta[c] = sum_g;
    dgamma[c] = sum_gx;
    for_each_bn_grad(s, c, y, dy, fuse_relu, [&](long idx, T g) {
      T xhat = (x[idx] - save_mean[c]) * save_invstd[c];
      dx[idx] = gamma[c] * save_invstd[c] * (g - sum_g / count - xhat * sum_gx / count);
    });
  }
}

// Running statistics update (kernel_api.h BatchNormUpdateRunningFn), in double.
template <class T>
void batch_norm_update_running(int C, double momentum, double unbias, const T* batch_mean,
                               const T* batch_var, T* running_mean, T* running_var) {
  const double m = momentum;
  for (int c = 0; c < C; ++c) {
    running_mean[c] = static_cast<T>(m * running_mean[c] + (1 - m) * batch_mean[c]);
    running_var[c] = static_cast<T>(m * running_var[c] + (1 - m) * batch_var[c] * unbias);
  }
}

// Backward of the evaluation form (running statistics are constants).
template <class T>
void batch_norm_backward_eval(const BatchNormShape& s, const T* x, const T* y, const T* dy,
                              const T* gamma, const T* running_mean, const T* running_var, T eps,
                              bool fuse_relu, T* dx, T* dgamma, T* dbeta) {
  for (int c = 0; c < s.C; ++c) {
    T invstd = T(1) / std::sqrt(running_var[c] + eps);
    T sum_g = 0, sum_gx = 0;
    for_each_bn_grad(s, c, y, dy, fuse_relu, [&](long idx, T g) {
      sum_g += g;
      sum_gx += g * (x[idx] - running_mean[c]) * invstd;
      dx[idx] = g * gamma[c] * invstd;
    });
    dbeta[c] = sum_g;
    dgamma[c] = sum_gx;
  }
}

}  // namespace ecg::ref
