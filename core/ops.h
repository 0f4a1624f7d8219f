// The functional API: differentiable tensor ops. Each op checks shapes (errors
// name the op and the shapes), runs its kernel through the op table (f32) or
// the scalar reference directly (f64, used by gradient checks), and records an
// autograd Node when an input requires grad.
#pragma once
#include <cstdint>
#include <optional>

#include "core/tensor.h"

namespace ecg {

// ---- convolution ---------------------------------------------------------

enum class Padding { Valid, Same, Explicit };

struct Conv2dOptions {
  int stride_h = 1, stride_w = 1;
  Padding padding = Padding::Valid;  // Same = TensorFlow "same" (odd pixel bottom/right)
  int pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;  // Explicit only
  static Conv2dOptions same(int stride = 1) {
    Conv2dOptions o;
    o.stride_h = o.stride_w = stride;
    o.padding = Padding::Same;
    return o;
  }
  static Conv2dOptions valid(int stride = 1) {
    Conv2dOptions o;
    o.stride_h = o.stride_w = stride;
    return o;
  }
  static Conv2dOptions explicit_pad(int stride, int top, int left, int bottom, int right) {
    Conv2dOptions o;
    o.stride_h = o.stride_w = stride;
    o.padding = Padding::Explicit;
    o.pad_top = top, o.pad_left = left, o.pad_bottom = bottom, o.pad_right = right;
    return o;
  }
};

// x [N,C,H,W], w [K,C,R,S], bias [K] or undefined -> [N,K,P,Q]
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dOptions& opt);

// ---- normalisation ---------------------------------------------------------

struct BatchNormOptions {
  double momentum = 0.99;  // Keras convention: running = momentum*running + (1-momentum)*batch
  double eps = 1e-3;
  bool fuse_relu = false;  // y = relu(bn(x)) in one kernel
};

// x [N,C,H,W] or [N,C]; gamma, beta, running_mean, running_var [C].
// training=true: batch statistics, running stats updated in place (unbiased
// variance, as Keras and PyTorch do); false: running statistics.
Tensor batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                  Tensor& running_var, bool training, const BatchNormOptions& opt);

// ---- activations, elementwise ---------------------------------------------

Tensor relu(const Tensor& x);
// x > 0 ? x : negative_slope * x (PyTorch's default slope; Keras' LeakyReLU uses 0.3).
Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01);
Tensor add(const Tensor& a, const Tensor& b);  // same shape
Tensor mul_scalar(const Tensor& a, double s);
Tensor sum(const Tensor& a);                   // scalar [ ] result
Tensor mul(const Tensor& a, const Tensor& b);  // same shape (tests, losses)

// ---- pooling -----------------------------------------------------------------

struct Pool2dOptions {
  int kernel_h = 2, kernel_w = 2, stride_h = 2, stride_w = 2;
  Padding padding = Padding::Valid;
  int pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  static Pool2dOptions window(int k, int stride) {
    Pool2dOptions o;
    o.kernel_h = o.kernel_w = k;
    o.stride_h = o.stride_w = stride;
    return o;
  }
};

Tensor max_pool2d(const Tensor& x, const Pool2dOptions& opt);
Tensor avg_pool2d(const Tensor& x, const Pool2dOptions& opt);
Tensor global_avg_pool(const Tensor& x);  // [N,C,H,W] -> [N,C]

// ---- dense, shape ------------------------------------------------------------

// x [N,in], w [out,in], b [out] or undefined -> [N,out]
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b);
Tensor flatten(const Tensor& x);  // [N, ...] -> [N, prod(...)]
Tensor reshape(const Tensor& x, const Shape& shape);

// Inverted dropout with a seeded mask: kept values are scaled by 1/(1-p).
// Identity when training is false or p == 0.
Tensor dropout(const Tensor& x, double p, bool training, uint64_t seed);

// ---- losses --------------------------------------------------------------------

// Mean softmax cross-entropy. `target` is [N, classes] probabilities (one-hot
// for hard labels); class_weight [classes] or undefined. Returns a scalar.
Tensor softmax_cross_entropy(const Tensor& logits, const Tensor& target,
                             const Tensor& class_weight = Tensor());
// One-hot [N, classes] from integer labels.
Tensor one_hot(const std::vector<int>& labels, int classes, DType dtype = DType::F32);
// Softmax probabilities without autograd (inference, metrics).
Tensor softmax(const Tensor& logits);

// lambda * sum(w^2) (Keras kernel_regularizer=l2(lambda)); scalar.
Tensor l2_penalty(const Tensor& w, double lambda);

}  // namespace ecg
