// Elementwise, shape, dropout and loss ops (convolution, batch norm, pooling and
// dense layers are in ops_nn.cpp). f32 runs the op-table kernel for the active
// ISA; f64 runs the scalar reference directly (gradient checks).
#include <cmath>
#include <cstring>

#include "core/ops_common.h"
#include "core/rng.h"
#include "kernels/ref/elementwise_ref.h"
#include "kernels/ref/loss_ref.h"

namespace ecg {

// The checks, record() and run_kernel() of core/ops_common.h.
using namespace detail;

Tensor relu(const Tensor& x_in) {
  check_float("relu", x_in, "input");
  Tensor x = x_in.contiguous();
  const DeviceType dev = x.device().type;
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  const int64_t n = x.numel();
  if (x.dtype() == DType::F64) {
    ref::relu_forward(n, x.data<double>(), y.data<double>());
  } else {
    run_kernel(ops().relu_forward, dev, 0, 8.0 * n, n, x.data<float>(), y.data<float>());
  }
  Tensor y_saved = y.detach();
  record("ReluBackward", {x_in}, y, [y_saved, dev](const Tensor& g_in) {
    Tensor g = g_in.contiguous();
    Tensor dx = Tensor::empty(y_saved.shape(), y_saved.dtype(), y_saved.device());
    const int64_t n = y_saved.numel();
    if (y_saved.dtype() == DType::F64) {
      ref::relu_backward(n, y_saved.data<double>(), g.data<double>(), dx.data<double>());
    } else {
      run_kernel(ops().relu_backward, dev, 0, 12.0 * n, n, y_saved.data<float>(), g.data<float>(),
                 dx.data<float>());
    }
    return std::vector<Tensor>{dx};
  });
  return y;
}

Tensor leaky_relu(const Tensor& x_in, double negative_slope) {
  check_float("leaky_relu", x_in, "input");
  Tensor x = x_in.contiguous();
  const DeviceType dev = x.device().type;
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  const int64_t n = x.numel();
  const float slope = static_cast<float>(negative_slope);
  if (x.dtype() == DType::F64)
    ref::leaky_relu_forward(n, x.data<double>(), negative_slope, y.data<double>());
  else
    run_kernel(ops().leaky_relu_forward, dev, 0, 8.0 * n, n, x.data<float>(), slope,
               y.data<float>());
  // The backward reads x, not y: with a negative slope y's sign does not tell x's.
  Tensor xs = x.detach();
  record("LeakyReluBackward", {x_in}, y, [xs, negative_slope, slope, dev](const Tensor& g_in) {
    Tensor g = g_in.contiguous();
    Tensor dx = Tensor::empty(xs.shape(), xs.dtype(), xs.device());
    const int64_t m = xs.numel();
    if (xs.dtype() == DType::F64)
      ref::leaky_relu_backward(m, xs.data<double>(), g.data<double>(), negative_slope,
                               dx.data<double>());
    else
      run_kernel(ops().leaky_relu_backward, dev, 0, 12.0 * m, m, xs.data<float>(), g.data<float>(),
                 slope, dx.data<float>());
    return std::vector<Tensor>{dx};
  });
  return y;
}

Tensor add(const Tensor& a_in, const Tensor& b_in) {
  check_same_shape_operands("add", a_in, b_in);
  Tensor a = a_in.contiguous(), b = b_in.contiguous();
  const DeviceType dev = a.device().type;
  Tensor y = Tensor::empty(a.shape(), a.dtype(), a.device());
  const int64_t n = a.numel();
  if (a.dtype() == DType::F64) {
    ref::add_forward(n, a.data<double>(), b.data<double>(), y.data<double>());
  } else {
    run_kernel(ops().add_forward, dev, 0, 12.0 * n, n, a.data<float>(), b.data<float>(),
               y.data<float>());
  }
  // The gradient passes unchanged to both inputs; fan-out sums happen in autograd.
  record("AddBackward", {a_in, b_in}, y, [](const Tensor& g) { return std::vector<Tensor>{g, g}; });
  return y;
}

// Small utility ops for tests and losses; plain loops on the host, not hot
// paths (a device operand makes a round trip).
template <class F>
static Tensor map_binary(const Tensor& a_in, const Tensor& b_in, F f) {
  const Device cpu = Device::cpu();
  Tensor a = a_in.contiguous().to(cpu).to(DType::F64), b = b_in.contiguous().to(cpu).to(DType::F64);
  Tensor y = Tensor::empty(a.shape(), DType::F64);
  const double *pa = a.data<double>(), *pb = b.data<double>();
  double* py = y.data<double>();
  for (int64_t i = 0; i < a.numel(); ++i) py[i] = f(pa[i], pb[i]);
  return y.to(a_in.dtype()).to(a_in.device());
}

Tensor mul_scalar(const Tensor& a, double s) {
  check_float("mul_scalar", a, "input");
  Tensor y = map_binary(a, a, [s](double x, double) { return x * s; });
  record("MulScalarBackward", {a}, y,
         [s](const Tensor& g) { return std::vector<Tensor>{mul_scalar(g, s)}; });
  return y;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  check_same_shape_operands("mul", a, b);
  Tensor y = map_binary(a, b, [](double x, double z) { return x * z; });
  Tensor as = a.detach(), bs = b.detach();
  record("MulBackward", {a, b}, y, [as, bs](const Tensor& g) {
    NoGradGuard guard;
    return std::vector<Tensor>{mul(g, bs), mul(g, as)};
  });
  return y;
}

Tensor sum(const Tensor& a) {
  check_float("sum", a, "input");
  Tensor c = a.contiguous().to(Device::cpu()).to(DType::F64);
  double acc = 0;
  const double* p = c.data<double>();
  for (int64_t i = 0; i < c.numel(); ++i) acc += p[i];
  const Device dev = a.device();
  Tensor y = Tensor::full({}, acc, a.dtype()).to(dev);
  Shape shape = a.shape();
  DType dt = a.dtype();
  record("SumBackward", {a}, y, [shape, dt, dev](const Tensor& g) {
    return std::vector<Tensor>{Tensor::full(shape, g.item(), dt).to(dev)};
  });
  return y;
}

Tensor reshape(const Tensor& x, const Shape& shape) {
  ECG_CHECK(x.defined(), "reshape: undefined input");
  Tensor y = x.contiguous().view(shape).detach();
  Shape in_shape = x.shape();
  record("ReshapeBackward", {x}, y, [in_shape](const Tensor& g) {
    return std::vector<Tensor>{g.contiguous().view(in_shape).detach()};
  });
  return y;
}

Tensor flatten(const Tensor& x) {
  ECG_CHECK(x.defined() && x.dim() >= 1, "flatten: input must have a batch dimension, got ",
            x.defined() ? shape_str(x.shape()) : "undefined");
  return reshape(x, {x.size(0), -1});
}

Tensor dropout(const Tensor& x_in, double p, bool training, uint64_t seed) {
  check_float("dropout", x_in, "input");
  ECG_CHECK(p >= 0.0 && p < 1.0, "dropout: probability ", p, " is outside [0, 1)");
  if (!training || p == 0.0) return x_in;
  // The mask is drawn on the host, so the op runs there and a device input
  // makes a round trip (in the study's AlexNet it is [N, 512] after fc1).
  const Device dev = x_in.device();
  Tensor x = x_in.contiguous().to(Device::cpu());
  const int64_t n = x.numel();
  // The mask comes from a seeded stream so a training step is reproducible.
  auto mask = std::make_shared<std::vector<uint8_t>>(static_cast<size_t>(n));
  Rng rng(seed);
  for (int64_t i = 0; i < n; ++i) (*mask)[i] = rng.uniform() >= p ? 1 : 0;
  const double scale = 1.0 / (1.0 - p);
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  if (x.dtype() == DType::F64) {
    ref::dropout_forward(n, x.data<double>(), mask->data(), scale, y.data<double>());
  } else {
    run_kernel(ops().dropout_forward, DeviceType::CPU, 0, 9.0 * n, n, x.data<float>(), mask->data(),
               static_cast<float>(scale), y.data<float>());
  }
  y = y.to(dev);
  record("DropoutBackward", {x_in}, y, [mask, scale, dev](const Tensor& g_in) {
    Tensor g = g_in.contiguous().to(Device::cpu());
    Tensor dx = Tensor::empty(g.shape(), g.dtype());
    const int64_t n = g.numel();
    if (g.dtype() == DType::F64)
      ref::dropout_forward(n, g.data<double>(), mask->data(), scale, dx.data<double>());
    else
      ops().dropout_forward.get()(n, g.data<float>(), mask->data(), static_cast<float>(scale),
                                  dx.data<float>());
    return std::vector<Tensor>{dx.to(dev)};
  });
  return y;
}

Tensor one_hot(const std::vector<int>& labels, int classes, DType dtype) {
  Tensor t = Tensor::zeros({static_cast<int64_t>(labels.size()), classes}, dtype);
  for (size_t i = 0; i < labels.size(); ++i) {
    ECG_CHECK(labels[i] >= 0 && labels[i] < classes, "one_hot: label ", labels[i], " at position ",
              i, " is outside [0, ", classes, ")");
    if (dtype == DType::F64)
      t.data<double>()[i * classes + labels[i]] = 1.0;
    else
      t.data<float>()[i * classes + labels[i]] = 1.0f;
  }
  return t;
}

Tensor softmax_cross_entropy(const Tensor& logits_in, const Tensor& target_in,
                             const Tensor& weight_in) {
  const char* op = "softmax_cross_entropy";
  check_float(op, logits_in, "logits");
  check_float(op, target_in, "target");
  check_same_dtype(op, logits_in, target_in);
  ECG_CHECK(logits_in.dim() == 2, op, ": logits must be [N, classes], got ",
            shape_str(logits_in.shape()));
  ECG_CHECK(target_in.shape() == logits_in.shape(), op, ": target ", shape_str(target_in.shape()),
            " does not match logits ", shape_str(logits_in.shape()));
  const int N = static_cast<int>(logits_in.size(0)), C = static_cast<int>(logits_in.size(1));
  Tensor weight;
  if (weight_in.defined()) {
    check_same_dtype(op, logits_in, weight_in);
    ECG_CHECK(weight_in.numel() == C, op, ": class weights ", shape_str(weight_in.shape()), " for ",
              C, " classes");
    weight = weight_in.contiguous().detach().to(logits_in.device());
  }
  // Targets and class weights are small and usually built on the host
  // (one_hot), so they follow the logits to their device.
  const Device device = logits_in.device();
  const DeviceType dev = device.type;
  Tensor z = logits_in.contiguous(), t = target_in.contiguous().detach().to(device);
  Tensor probs = Tensor::empty(z.shape(), z.dtype(), device);
  double loss;
  if (z.dtype() == DType::F64) {
    loss = ref::softmax_cross_entropy_forward(N, C, z.data<double>(), t.data<double>(),
                                              weight.defined() ? weight.data<double>() : nullptr,
                                              probs.data<double>());
  } else {
    loss = run_kernel(ops().softmax_cross_entropy_forward, dev, 0, 12.0 * N * C, N, C,
                      z.data<float>(), t.data<float>(),
                      weight.defined() ? weight.data<float>() : nullptr, probs.data<float>());
  }
  ECG_CHECK(std::isfinite(loss), op, ": loss is ", loss, " (non-finite logits?)");
  Tensor y = Tensor::full({}, loss, z.dtype()).to(device);
  Tensor p_saved = probs.detach();
  record("SoftmaxCrossEntropyBackward", {logits_in}, y,
         [p_saved, t, weight, N, C, dev](const Tensor& g) {
           Tensor dz = Tensor::empty(p_saved.shape(), p_saved.dtype(), p_saved.device());
           if (p_saved.dtype() == DType::F64)
             ref::softmax_cross_entropy_backward(N, C, p_saved.data<double>(), t.data<double>(),
                                                 weight.defined() ? weight.data<double>() : nullptr,
                                                 g.item(), dz.data<double>());
           else
             ops().softmax_cross_entropy_backward.get(dev)(
                 N, C, p_saved.data<float>(), t.data<float>(),
                 weight.defined() ? weight.data<float>() : nullptr, static_cast<float>(g.item()),
                 dz.data<float>());
           return std::vector<Tensor>{dz};
         });
  return y;
}

Tensor softmax(const Tensor& logits) {
  check_float("softmax", logits, "logits");
  ECG_CHECK(logits.dim() == 2, "softmax: logits must be [N, classes], got ",
            shape_str(logits.shape()));
  Tensor z = logits.contiguous().to(Device::cpu()).to(DType::F64);
  const int N = static_cast<int>(z.size(0)), C = static_cast<int>(z.size(1));
  Tensor probs = Tensor::empty(z.shape(), DType::F64);
  Tensor zeros = Tensor::zeros(z.shape(), DType::F64);
  ref::softmax_cross_entropy_forward<double>(N, C, z.data<double>(), zeros.data<double>(), nullptr,
                                             probs.data<double>());
  return probs.to(logits.dtype()).to(logits.device());
}

Tensor l2_penalty(const Tensor& w_in, double lambda) {
  check_float("l2_penalty", w_in, "weights");
  Tensor w = w_in.contiguous().detach();
  const int64_t n = w.numel();
  const DeviceType dev = w.device().type;
  const float lambda_f = static_cast<float>(lambda);
  const double v = w.dtype() == DType::F64
                       ? ref::l2_penalty_forward(n, w.data<double>(), lambda)
                       : ops().l2_penalty_forward.get(dev)(n, w.data<float>(), lambda_f);
  Tensor y = Tensor::full({}, v, w.dtype()).to(w.device());
  record("L2PenaltyBackward", {w_in}, y, [w, lambda, lambda_f, dev](const Tensor& g) {
    Tensor dw = Tensor::empty(w.shape(), w.dtype(), w.device());
    if (w.dtype() == DType::F64)
      ref::l2_penalty_backward(w.numel(), w.data<double>(), lambda, g.item(), dw.data<double>());
    else
      ops().l2_penalty_backward.get(dev)(w.numel(), w.data<float>(), lambda_f,
                                         static_cast<float>(g.item()), dw.data<float>());
    return std::vector<Tensor>{dw};
  });
  return y;
}

}  // namespace ecg
