// Kernel contracts: shapes and function signatures shared by every backend.
//
// Layouts at this API: activations NCHW, convolution weights OIHW (K, C, R, S),
// linear weights [out, in], all contiguous, all row-major. Kernels may use any
// internal layout (packed, blocked) but read and write these.
// Accumulation: float kernels accumulate in float; the reference is templated
// on float and double and is the spec (kernels/ref).
// Output convention: every kernel OVERWRITES its outputs (no "+=") unless the
// name says accumulate. Gradient accumulation into leaves happens in autograd.
#pragma once
#include <cstdint>

namespace ecg {

// Convolution geometry. Padding may be asymmetric: TensorFlow "same" with an
// even total pads the extra pixel at the bottom/right.
struct Conv2dShape {
  int N = 1, C = 1, H = 1, W = 1;  // input
  int K = 1, R = 1, S = 1;         // output channels, kernel height, width
  int stride_h = 1, stride_w = 1;
  int pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  int P = 1, Q = 1;  // output height, width (derived; see conv2d_output_size)

  // FLOPs of the forward pass (2 per multiply-add); backward passes cost the same each.
  double flops() const { return 2.0 * N * K * P * Q * C * R * S; }
};

// Fills P and Q from the other fields; returns false when the output is empty.
inline bool conv2d_finalize(Conv2dShape& s) {
  s.P = (s.H + s.pad_top + s.pad_bottom - s.R) / s.stride_h + 1;
  s.Q = (s.W + s.pad_left + s.pad_right - s.S) / s.stride_w + 1;
  return s.H + s.pad_top + s.pad_bottom >= s.R && s.W + s.pad_left + s.pad_right >= s.S;
}

// TensorFlow "same": out = ceil(in / stride); the odd pixel goes after.
inline void tf_same_padding(int in, int kernel, int stride, int& before, int& after) {
  int out = (in + stride - 1) / stride;
  int total = (out - 1) * stride + kernel - in;
  if (total < 0) total = 0;
  before = total / 2;
  after = total - before;
}

// Pooling geometry (max and average). Average pooling divides by the number
// of in-bounds elements of the window (TensorFlow semantics for padding).
struct Pool2dShape {
  int N = 1, C = 1, H = 1, W = 1;
  int R = 2, S = 2, stride_h = 2, stride_w = 2;
  int pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  int P = 1, Q = 1;
};

inline bool pool2d_finalize(Pool2dShape& s) {
  s.P = (s.H + s.pad_top + s.pad_bottom - s.R) / s.stride_h + 1;
  s.Q = (s.W + s.pad_left + s.pad_right - s.S) / s.stride_w + 1;
  return s.H + s.pad_top + s.pad_bottom >= s.R && s.W + s.pad_left + s.pad_right >= s.S;
}

// Batch norm over (N, C, HW): statistics per channel over N*HW elements.
// BatchNorm1d on [N, C] is the same with HW = 1.
struct BatchNormShape {
  int N = 1, C = 1, HW = 1;
};

// ---- float kernel signatures (one op-table slot each) ----------------------

// C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C, row-major with leading dims.
using SgemmFn = void (*)(bool trans_a, bool trans_b, int M, int N, int K, float alpha,
                         const float* A, int lda, const float* B, int ldb, float beta, float* C,
                         int ldc);

// y = conv(x, w) + bias (bias may be null).
using Conv2dForwardFn = void (*)(const Conv2dShape& s, const float* x, const float* w,
                                 const float* bias, float* y);
// dx = conv_transpose(dy, w).
using Conv2dBackwardDataFn = void (*)(const Conv2dShape& s, const float* dy, const float* w,
                                      float* dx);
// dw = corr(x, dy); db = sum(dy) over N,P,Q (db may be null).
using Conv2dBackwardWeightsFn = void (*)(const Conv2dShape& s, const float* x, const float* dy,
                                         float* dw, float* db);

// Training forward: batch statistics; writes y, the batch mean and 1/sqrt(var+eps)
// (biased variance, as used for normalisation). Running stats are updated by the caller.
using BatchNormForwardTrainFn = void (*)(const BatchNormShape& s, const float* x,
                                         const float* gamma, const float* beta, float eps,
                                         bool fuse_relu, float* y, float* save_mean,
                                         float* save_invstd, float* batch_var);
using BatchNormForwardEvalFn = void (*)(const BatchNormShape& s, const float* x, const float* gamma,
                                        const float* beta, const float* running_mean,
                                        const float* running_var, float eps, bool fuse_relu,
                                        float* y);
// Backward of the training forward. With fuse_relu, y is the fused output and
// dy is masked by y > 0 first.
using BatchNormBackwardFn = void (*)(const BatchNormShape& s, const float* x, const float* y,
                                     const float* dy, const float* gamma, const float* save_mean,
                                     const float* save_invstd, bool fuse_relu, float* dx,
                                     float* dgamma, float* dbeta);

// Running statistics after a training forward, in place, per channel:
//   running_mean = m * running_mean + (1 - m) * batch_mean
//   running_var  = m * running_var  + (1 - m) * batch_var * unbias
// with unbias = count / (count - 1) (the unbiased variance, as Keras and
// PyTorch keep it). In double, one rounding to float per value, so every
// backend gives the same bits.
using BatchNormUpdateRunningFn = void (*)(int C, double momentum, double unbias,
                                          const float* batch_mean, const float* batch_var,
                                          float* running_mean, float* running_var);

using ReluForwardFn = void (*)(int64_t n, const float* x, float* y);
// dx = dy * (y > 0); works from the output so the input need not be saved.
using ReluBackwardFn = void (*)(int64_t n, const float* y, const float* dy, float* dx);

// y = x > 0 ? x : negative_slope * x (PyTorch's LeakyReLU; Keras' LeakyReLU(alpha)).
using LeakyReluForwardFn = void (*)(int64_t n, const float* x, float negative_slope, float* y);
// dx = x > 0 ? dy : negative_slope * dy; works from the input, so any slope
// (zero or negative too) has one meaning, as in PyTorch (gradient at x == 0:
// negative_slope * dy).
using LeakyReluBackwardFn = void (*)(int64_t n, const float* x, const float* dy,
                                     float negative_slope, float* dx);

// y = a + b (same shape).
using AddForwardFn = void (*)(int64_t n, const float* a, const float* b, float* y);

// Max pool writes the flat input index (within the N*C plane) of each maximum.
using MaxPoolForwardFn = void (*)(const Pool2dShape& s, const float* x, float* y, int32_t* argmax);
using MaxPoolBackwardFn = void (*)(const Pool2dShape& s, const float* dy, const int32_t* argmax,
                                   float* dx);
using AvgPoolForwardFn = void (*)(const Pool2dShape& s, const float* x, float* y);
using AvgPoolBackwardFn = void (*)(const Pool2dShape& s, const float* dy, float* dx);

// [N, C, H, W] -> [N, C]
using GlobalAvgPoolForwardFn = void (*)(int N, int C, int HW, const float* x, float* y);
using GlobalAvgPoolBackwardFn = void (*)(int N, int C, int HW, const float* dy, float* dx);

// y[N,out] = x[N,in] W^T + b
using LinearForwardFn = void (*)(int N, int in, int out, const float* x, const float* w,
                                 const float* b, float* y);
using LinearBackwardDataFn = void (*)(int N, int in, int out, const float* dy, const float* w,
                                      float* dx);
using LinearBackwardWeightsFn = void (*)(int N, int in, int out, const float* x, const float* dy,
                                         float* dw, float* db);

// y = x * mask * scale, mask of 0/1 bytes drawn by the caller from a seeded RNG.
using DropoutForwardFn = void (*)(int64_t n, const float* x, const uint8_t* mask, float scale,
                                  float* y);

// Mean over the batch of -sum_c target[n,c] * log_softmax(logits)[n,c], with
// optional per-class weights (null = 1). Writes the probabilities for backward.
// Returns the loss.
using SoftmaxCrossEntropyForwardFn = float (*)(int N, int classes, const float* logits,
                                               const float* target, const float* class_weight,
                                               float* probs);
// dlogits = dloss * w_n * (probs - target) / N
using SoftmaxCrossEntropyBackwardFn = void (*)(int N, int classes, const float* probs,
                                               const float* target, const float* class_weight,
                                               float dloss, float* dlogits);

// The L2 kernel penalty (Keras kernel_regularizer=l2(lambda)): forward
// returns lambda * sum(w^2); backward writes dw = 2 * lambda * w * dloss.
using L2PenaltyForwardFn = float (*)(int64_t n, const float* w, float lambda);
using L2PenaltyBackwardFn = void (*)(int64_t n, const float* w, float lambda, float dloss,
                                     float* dw);

// Adam / AdamW step over a flat parameter. Two epsilon conventions:
//   Keras:   lr_t = lr*sqrt(1-b2^t)/(1-b1^t);  p -= lr_t * m / (sqrt(v) + eps)
//   PyTorch: p -= lr * (m/(1-b1^t)) / (sqrt(v/(1-b2^t)) + eps)
// They differ only in where eps sits relative to the bias correction.
struct AdamParams {
  float lr = 1e-3f, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-7f, weight_decay = 0.f;
  bool decoupled = false;  // AdamW
  bool keras_eps = true;   // Keras: lr_t = lr*sqrt(1-b2^t)/(1-b1^t); p -= lr_t*m/(sqrt(v)+eps)
  int64_t step = 1;        // 1-based step index after increment
};
using AdamUpdateFn = void (*)(int64_t n, const AdamParams& p, float* param, const float* grad,
                              float* m, float* v);

struct SgdParams {
  float lr = 1e-2f, momentum = 0.f, weight_decay = 0.f, dampening = 0.f;
  bool nesterov = false;
  bool first_step = true;  // momentum buffer initialised to the gradient on the first step
};
using SgdUpdateFn = void (*)(int64_t n, const SgdParams& p, float* param, const float* grad,
                             float* momentum_buf);

}  // namespace ecg
