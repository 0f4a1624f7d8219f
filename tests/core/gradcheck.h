// Central-difference gradient checking in double precision.
// For a function f of several tensors returning any tensor, the scalar
// L = sum(f(x) * u) with a fixed random u is differentiated both by autograd
// and numerically: dL/dx_i ~ (L(x_i + h) - L(x_i - h)) / 2h.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <vector>

#include "core/autograd.h"
#include "core/ops.h"

namespace ecg::testing {

// Central differences in double with h = 1e-6 carry truncation error O(h^2 f''')
// and rounding error O(eps_machine * |L| / h) ~ 1e-10 * |L|; 1e-6 relative
// (with an absolute floor) leaves two orders of margin on these small shapes
// while a wrong formula is off by O(1).
constexpr double kGradCheckRelTolF64 = 1e-6;
constexpr double kGradCheckAbsTolF64 = 1e-8;

using TensorFn = std::function<Tensor(const std::vector<Tensor>&)>;

inline double weighted_sum(const Tensor& y, const Tensor& u) {
  std::vector<double> a = y.to_vector_f64(), b = u.to_vector_f64();
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// Returns the number of mismatching elements; prints the worst one.
inline int gradcheck(const TensorFn& f, std::vector<Tensor> inputs,
                     const std::vector<bool>& check = {}, double h = 1e-6) {
  for (auto& t : inputs) {
    t = t.to(DType::F64).clone();
    t.set_requires_grad(true);
  }
  Tensor y = f(inputs);
  Tensor u = Tensor::uniform(y.shape(), 1234, -1.0, 1.0, DType::F64);
  Tensor L = sum(mul(y, u));
  L.backward();
  int total_bad = 0;
  for (size_t k = 0; k < inputs.size(); ++k) {
    if (!check.empty() && !check[k]) continue;
    Tensor g = inputs[k].grad();
    EXPECT_TRUE(g.defined()) << "input " << k << " received no gradient";
    if (!g.defined()) return 1;
    std::vector<double> analytic = g.to_vector_f64();
    int bad = 0;
    double worst = 0;
    int64_t worst_i = -1;
    double worst_a = 0, worst_n = 0;
    for (int64_t i = 0; i < inputs[k].numel(); ++i) {
      std::vector<Tensor> probe;
      for (auto& t : inputs) probe.push_back(t.detach().clone());
      double* p = probe[k].data<double>();
      const double orig = p[i];
      p[i] = orig + h;
      double lp, lm;
      {
        NoGradGuard ng;
        lp = weighted_sum(f(probe), u);
        p[i] = orig - h;
        lm = weighted_sum(f(probe), u);
      }
      double numeric = (lp - lm) / (2 * h);
      double err = std::fabs(numeric - analytic[i]);
      double tol = kGradCheckAbsTolF64 + kGradCheckRelTolF64 * std::fabs(numeric);
      if (err > tol) {
        ++bad;
        if (err > worst) worst = err, worst_i = i, worst_a = analytic[i], worst_n = numeric;
      }
    }
    EXPECT_EQ(bad, 0) << "input " << k << ": " << bad << " of " << inputs[k].numel()
                      << " gradient entries differ; worst index " << worst_i << " analytic "
                      << worst_a << " numeric " << worst_n;
    total_bad += bad;
  }
  return total_bad;
}

}  // namespace ecg::testing
