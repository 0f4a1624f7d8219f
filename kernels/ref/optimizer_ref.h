// Scalar reference optimiser updates over flat parameters (the spec for the
// op-table kernels adam_update and sgd_update; see AdamParams/SgdParams in
// kernels/kernel_api.h for the two epsilon conventions).
#pragma once
#include <cmath>
#include <cstdint>

#include "kernels/kernel_api.h"

namespace ecg::ref {

template <class T>
void adam_update(int64_t n, const AdamParams& p, T* param, const T* grad, T* m, T* v) {
  const double t = static_cast<double>(p.step);
  const double bc1 = 1.0 - std::pow(static_cast<double>(p.beta1), t);
  const double bc2 = 1.0 - std::pow(static_cast<double>(p.beta2), t);
  const T b1 = static_cast<T>(p.beta1), b2 = static_cast<T>(p.beta2), eps = static_cast<T>(p.eps);
  const T lr = static_cast<T>(p.lr), wd = static_cast<T>(p.weight_decay);
  // Keras folds both bias corrections into the step size.
  const T lr_t = static_cast<T>(p.lr * std::sqrt(bc2) / bc1);
  for (int64_t i = 0; i < n; ++i) {
    T g = grad[i];
    if (p.decoupled)
      param[i] -= lr * wd * param[i];
    else if (wd != T(0))
      g += wd * param[i];
    m[i] = b1 * m[i] + (T(1) - b1) * g;
    v[i] = b2 * v[i] + (T(1) - b2) * g * g;
    if (p.keras_eps) {
      param[i] -= lr_t * m[i] / (std::sqrt(v[i]) + eps);
    } else {
      T m_hat = m[i] / static_cast<T>(bc1), v_hat = v[i] / static_cast<T>(bc2);
      param[i] -= lr * m_hat / (std::sqrt(v_hat) + eps);
    }
  }
}

// PyTorch's SGD: weight decay added to the gradient, momentum buffer set to the
// gradient on the first step, optional dampening and Nesterov.
template <class T>
void sgd_update(int64_t n, const SgdParams& p, T* param, const T* grad, T* buf) {
  const T lr = static_cast<T>(p.lr), mom = static_cast<T>(p.momentum);
  const T wd = static_cast<T>(p.weight_decay), damp = static_cast<T>(p.dampening);
  for (int64_t i = 0; i < n; ++i) {
    T g = grad[i] + wd * param[i];
    if (mom != T(0)) {
      buf[i] = p.first_step ? g : mom * buf[i] + (T(1) - damp) * g;
      g = p.nesterov ? g + mom * buf[i] : buf[i];
    }
    param[i] -= lr * g;
  }
}

}  // namespace ecg::ref
