// The layers the study's models are built from. Shapes: activations NCHW,
// conv weights OIHW, linear weights [out, in] (PyTorch layouts, so
// checkpoints interoperate).
#pragma once
#include "layers/module.h"

namespace ecg {

struct Conv2dConfig {
  int in = 1, out = 1, kernel = 3, stride = 1;
  Padding padding = Padding::Same;  // TensorFlow "same": odd pixel bottom/right
  bool bias = true;
  double l2 = 0.0;  // Keras kernel_regularizer=l2(l2); 0 = none
  uint64_t seed = 0;
};

class Conv2d : public Module {
 public:
  explicit Conv2d(const Conv2dConfig& c);
  Tensor forward(const Tensor& x) override;
  Shape infer(const Shape& in, std::vector<LayerInfo>* rows, const std::string& prefix) override;
  const Conv2dConfig& config() const { return cfg_; }
  Tensor& weight() { return *weight_; }
  Tensor* bias() { return bias_; }

 protected:
  void collect_penalties(std::vector<Tensor>& out) override;

 private:
  Conv2dOptions options() const;
  Conv2dConfig cfg_;
  Tensor* weight_;
  Tensor* bias_ = nullptr;
};

// BatchNorm2d / BatchNorm1d with Keras conventions (momentum 0.99, eps 1e-3);
// fuse_relu folds a following ReLU into the same kernel.
class BatchNorm : public Module {
 public:
  BatchNorm(int channels, double momentum = 0.99, double eps = 1e-3, bool fuse_relu = false);
  Tensor forward(const Tensor& x) override;
  Shape infer(const Shape& in, std::vector<LayerInfo>* rows, const std::string& prefix) override;
  bool fuses_relu() const { return opt_.fuse_relu; }
  double momentum() const { return opt_.momentum; }
  void set_momentum(double m) { opt_.momentum = m; }
  double eps() const { return opt_.eps; }
  Tensor& gamma() { return *gamma_; }
  Tensor& beta() { return *beta_; }
  Tensor& running_mean() { return *mean_; }
  Tensor& running_var() { return *var_; }

 private:
  BatchNormOptions opt_;
  int channels_;
  Tensor *gamma_, *beta_, *mean_, *var_;
};

class ReLU : public Module {
 public:
  ReLU() : Module("ReLU") {}
  Tensor forward(const Tensor& x) override { return relu(x); }
  Shape infer(const Shape& in, std::vector<LayerInfo>* rows, const std::string& prefix) override;
};

class LeakyReLU : public Module {
 public:
  explicit LeakyReLU(double negative_slope = 0.01)
      : Module("LeakyReLU"), negative_slope_(negative_slope) {}
  Tensor forward(const Tensor& x) override { return leaky_relu(x, negative_slope_); }
  Shape infer(const Shape& in, std::vector<LayerInfo>* rows, const std::string& prefix) override;
  double negative_slope() const { return negative_slope_; }

 private:
  double negative_slope_;
};

class MaxPool2d : public Module {
 public:
  MaxPool2d(int kernel, int stride)
      : Module("MaxPool2d"), opt_(Pool2dOptions::window(kernel, stride)) {}
  Tensor forward(const Tensor& x) override { return max_pool2d(x, opt_); }
  Shape infer(const Shape& in, std::vector<LayerInfo>* rows, const std::string& prefix) override;
  const Pool2dOptions& options() const { return opt_; }

 private:
  Pool2dOptions opt_;
};

class AvgPool2d : public Module {
 public:
  AvgPool2d(int kernel, int stride)
      : Module("AvgPool2d"), opt_(Pool2dOptions::window(kernel, stride)) {}
  Tensor forward(const Tensor& x) override { return avg_pool2d(x, opt_); }
  Shape infer(const Shape& in, std::vector<LayerInfo>* rows, const std::string& prefix) override;
  const Pool2dOptions& options() const { return opt_; }

 private:
  Pool2dOptions opt_;
};

class Flatten : public Module {
 public:
  Flatten() : Module("Flatten") {}
  Tensor forward(const Tensor& x) override { return flatten(x); }
  Shape infer(const Shape& in, std::vector<LayerInfo>* rows, const std::string& prefix) override;
};

class Linear : public Module {
 public:
  // init: "he_normal" (ResNet head) or "glorot_uniform" (Keras' Dense default).
  Linear(int in, int out, uint64_t seed, const std::string& init = "he_normal");
  Tensor forward(const Tensor& x) override;
  Shape infer(const Shape& in, std::vector<LayerInfo>* rows, const std::string& prefix) override;
  Tensor& weight() { return *weight_; }
  Tensor& bias() { return *bias_; }

 private:
  int in_, out_;
  Tensor *weight_, *bias_;
};

// Inverted dropout; each call draws a new mask from a counter-based seed so a
// run is reproducible and a resumed run continues the same stream.
class Dropout : public Module {
 public:
  Dropout(double p, uint64_t seed) : Module("Dropout"), p_(p), seed_(seed) {}
  Tensor forward(const Tensor& x) override;
  Shape infer(const Shape& in, std::vector<LayerInfo>* rows, const std::string& prefix) override;
  void set_counter(uint64_t c) { counter_ = c; }
  uint64_t counter() const { return counter_; }

 private:
  double p_;
  uint64_t seed_, counter_ = 0;
};

class Sequential : public Module {
 public:
  Sequential() : Module("Sequential") {}
  template <class M>
  std::shared_ptr<M> add(const std::string& name, std::shared_ptr<M> m) {
    auto r = register_module(name, m);
    order_.push_back(r);
    return r;
  }
  Tensor forward(const Tensor& x) override;
  Shape infer(const Shape& in, std::vector<LayerInfo>* rows, const std::string& prefix) override;
  const std::vector<ModulePtr>& layers() const { return order_; }

 private:
  std::vector<ModulePtr> order_;
};

// The study's residual block: y = unit(x, f_mid, 3x3, stride, ReLU);
// y = unit(y, f_out, 3x3, 1); shortcut = 1x1 conv (bias, no BN) when
// `project`, identity otherwise; out = ReLU(shortcut + y).
// A "unit" is Conv2d (bias, same padding, He-normal, L2) -> BatchNorm.
class ResidualBlock : public Module {
 public:
  ResidualBlock(int in, int mid, int out, int stride, bool project, double l2, uint64_t seed);
  Tensor forward(const Tensor& x) override;
  Shape infer(const Shape& in, std::vector<LayerInfo>* rows, const std::string& prefix) override;
  std::shared_ptr<Conv2d> conv1, conv2, shortcut;  // shortcut null for identity
  std::shared_ptr<BatchNorm> bn1, bn2;
};

}  // namespace ecg
