#include "layers/layers.h"

#include <cmath>

#include "core/collective.h"
#include "core/rng.h"
#include "layers/sync_batch_norm.h"

namespace ecg {

namespace {

int same_or_valid_out(int in, int k, int stride, Padding p) {
  if (p == Padding::Same) return (in + stride - 1) / stride;
  return (in - k) / stride + 1;
}

Shape check_nchw(const char* kind, const Shape& in) {
  ECG_CHECK(in.size() == 4, kind, ": expects [N, C, H, W], got ", shape_str(in));
  return in;
}

}  // namespace

// ---- Conv2d ----

Conv2d::Conv2d(const Conv2dConfig& c) : Module("Conv2d"), cfg_(c) {
  ECG_CHECK(c.in > 0 && c.out > 0 && c.kernel > 0 && c.stride > 0,
            "Conv2d: invalid config in=", c.in, " out=", c.out, " kernel=", c.kernel,
            " stride=", c.stride);
  const int64_t fan_in = static_cast<int64_t>(c.in) * c.kernel * c.kernel;
  weight_ =
      &register_parameter("weight", he_normal({c.out, c.in, c.kernel, c.kernel}, fan_in, c.seed));
  if (c.bias) bias_ = &register_parameter("bias", Tensor::zeros({c.out}));
}

Conv2dOptions Conv2d::options() const {
  Conv2dOptions o;
  o.stride_h = o.stride_w = cfg_.stride;
  o.padding = cfg_.padding;
  return o;
}

Tensor Conv2d::forward(const Tensor& x) {
  return conv2d(x, *weight_, bias_ ? *bias_ : Tensor(), options());
}

Shape Conv2d::infer(const Shape& in, std::vector<LayerInfo>* rows, const std::string& prefix) {
  check_nchw("Conv2d", in);
  ECG_CHECK(in[1] == cfg_.in, prefix, ": expects ", cfg_.in, " channels, got ", shape_str(in));
  int P = same_or_valid_out(static_cast<int>(in[2]), cfg_.kernel, cfg_.stride, cfg_.padding);
  int Q = same_or_valid_out(static_cast<int>(in[3]), cfg_.kernel, cfg_.stride, cfg_.padding);
  ECG_CHECK(P > 0 && Q > 0, prefix, ": input ", shape_str(in), " is smaller than the ", cfg_.kernel,
            "x", cfg_.kernel, " kernel; use a larger --image-size");
  Shape out = {in[0], cfg_.out, P, Q};
  add_row(rows, prefix, out,
          static_cast<double>(in[0]) * cfg_.out * P * Q * cfg_.in * cfg_.kernel * cfg_.kernel);
  return out;
}

void Conv2d::collect_penalties(std::vector<Tensor>& out) {
  if (cfg_.l2 > 0) out.push_back(l2_penalty(*weight_, cfg_.l2));
}

// ---- BatchNorm ----

BatchNorm::BatchNorm(int channels, double momentum, double eps, bool fuse_relu)
    : Module(fuse_relu ? "BatchNorm+ReLU" : "BatchNorm"), channels_(channels) {
  opt_.momentum = momentum;
  opt_.eps = eps;
  opt_.fuse_relu = fuse_relu;
  gamma_ = &register_parameter("weight", Tensor::full({channels}, 1.0));
  beta_ = &register_parameter("bias", Tensor::zeros({channels}));
  mean_ = &register_buffer("running_mean", Tensor::zeros({channels}));
  var_ = &register_buffer("running_var", Tensor::full({channels}, 1.0));
}

Tensor BatchNorm::forward(const Tensor& x) {
  // --sync-bn: the statistics of every rank's shard, summed in double in rank
  // order; one process with --sync-bn runs the same code (its own shard), so
  // a run on N ranks and its one-process reference round alike.
  if (is_training() && sync_batch_norm_enabled())
    return sync_batch_norm(x, *gamma_, *beta_, *mean_, *var_, opt_);
  return batch_norm(x, *gamma_, *beta_, *mean_, *var_, is_training(), opt_);
}

Shape BatchNorm::infer(const Shape& in, std::vector<LayerInfo>* rows, const std::string& prefix) {
  ECG_CHECK(in.size() >= 2 && in[1] == channels_, prefix, ": expects ", channels_,
            " channels, got ", shape_str(in));
  add_row(rows, prefix, in, 0);
  return in;
}

// ---- simple layers ----

// Elementwise activations: one row, shape unchanged, no MACs.
Shape ReLU::infer(const Shape& in, std::vector<LayerInfo>* rows, const std::string& prefix) {
  add_row(rows, prefix, in, 0);
  return in;
}

Shape LeakyReLU::infer(const Shape& in, std::vector<LayerInfo>* rows, const std::string& prefix) {
  add_row(rows, prefix, in, 0);
  return in;
}

static Shape pool_infer(const char* kind, const Shape& in, const Pool2dOptions& o) {
  check_nchw(kind, in);
  int P = (static_cast<int>(in[2]) - o.kernel_h) / o.stride_h + 1;
  int Q = (static_cast<int>(in[3]) - o.kernel_w) / o.stride_w + 1;
  ECG_CHECK(in[2] >= o.kernel_h && in[3] >= o.kernel_w, kind, ": input ", shape_str(in),
            " is smaller than the ", o.kernel_h, "x", o.kernel_w,
            " window; use a larger --image-size");
  return {in[0], in[1], P, Q};
}

Shape MaxPool2d::infer(const Shape& in, std::vector<LayerInfo>* rows, const std::string& prefix) {
  Shape out = pool_infer("MaxPool2d", in, opt_);
  add_row(rows, prefix, out, 0);
  return out;
}

Shape AvgPool2d::infer(const Shape& in, std::vector<LayerInfo>* rows, const std::string& prefix) {
  Shape out = pool_infer("AvgPool2d", in, opt_);
  add_row(rows, prefix, out, 0);
  return out;
}

Shape Flatten::infer(const Shape& in, std::vector<LayerInfo>* rows, const std::string& prefix) {
  int64_t f = 1;
  for (size_t i = 1; i < in.size(); ++i) f *= in[i];
  Shape out = {in[0], f};
  add_row(rows, prefix, out, 0);
  return out;
}

// ---- Linear ----

Linear::Linear(int in, int out, uint64_t seed, const std::string& init)
    : Module("Linear"), in_(in), out_(out) {
  ECG_CHECK(in > 0 && out > 0, "Linear: invalid sizes ", in, " -> ", out);
  Tensor w;
  if (init == "glorot_uniform") {
    double limit = std::sqrt(6.0 / (in + out));
    w = Tensor::uniform({out, in}, seed, -limit, limit);
  } else {
    ECG_CHECK(init == "he_normal", "Linear: unknown initialiser '", init, "'");
    w = he_normal({out, in}, in, seed);
  }
  weight_ = &register_parameter("weight", w);
  bias_ = &register_parameter("bias", Tensor::zeros({out}));
}

Tensor Linear::forward(const Tensor& x) {
  return linear(x, *weight_, *bias_);
}

Shape Linear::infer(const Shape& in, std::vector<LayerInfo>* rows, const std::string& prefix) {
  ECG_CHECK(in.size() == 2 && in[1] == in_, prefix, ": expects [N, ", in_, "], got ", shape_str(in),
            " (the model was built for another input size?)");
  Shape out = {in[0], out_};
  add_row(rows, prefix, out, static_cast<double>(in[0]) * in_ * out_);
  return out;
}

// ---- Dropout ----

Tensor Dropout::forward(const Tensor& x) {
  if (!is_training()) return x;
  uint64_t seed = seed_ * 0x9e3779b97f4a7c15ull + (counter_++);
  return dropout(x, p_, true, seed);
}

Shape Dropout::infer(const Shape& in, std::vector<LayerInfo>* rows, const std::string& prefix) {
  add_row(rows, prefix, in, 0);
  return in;
}

// ---- Sequential ----

Tensor Sequential::forward(const Tensor& x) {
  Tensor h = x;
  for (auto& m : order_) h = (*m)(h);
  return h;
}

Shape Sequential::infer(const Shape& in, std::vector<LayerInfo>* rows, const std::string& prefix) {
  Shape s = in;
  for (auto& c : children_)
    s = c.second->infer(s, rows, prefix.empty() ? c.first : prefix + "." + c.first);
  return s;
}

// ---- ResidualBlock ----

ResidualBlock::ResidualBlock(int in, int mid, int out, int stride, bool project, double l2,
                             uint64_t seed)
    : Module("ResidualBlock") {
  Conv2dConfig c1{in, mid, 3, stride, Padding::Same, true, l2, seed + 1};
  Conv2dConfig c2{mid, out, 3, 1, Padding::Same, true, l2, seed + 2};
  conv1 = register_module("conv1", std::make_shared<Conv2d>(c1));
  bn1 = register_module("bn1", std::make_shared<BatchNorm>(mid, 0.99, 1e-3, /*fuse_relu=*/true));
  conv2 = register_module("conv2", std::make_shared<Conv2d>(c2));
  bn2 = register_module("bn2", std::make_shared<BatchNorm>(out, 0.99, 1e-3, false));
  ECG_CHECK(project || (in == out && stride == 1),
            "ResidualBlock: identity shortcut needs in == out "
            "and stride 1, got ",
            in, " -> ", out, " stride ", stride);
  if (project) {
    // Keras resnet_layer(batch_normalization=False) keeps the L2 kernel penalty.
    Conv2dConfig sc{in, out, 1, stride, Padding::Same, true, l2, seed + 3};
    shortcut = register_module("shortcut", std::make_shared<Conv2d>(sc));
  }
}

Tensor ResidualBlock::forward(const Tensor& x) {
  Tensor y = (*bn1)((*conv1)(x));
  y = (*bn2)((*conv2)(y));
  Tensor s = shortcut ? (*shortcut)(x) : x;
  LayerScope scope("add_relu");
  return relu(add(s, y));
}

Shape ResidualBlock::infer(const Shape& in, std::vector<LayerInfo>* rows,
                           const std::string& prefix) {
  Shape y = conv1->infer(in, rows, prefix + ".conv1");
  y = bn1->infer(y, rows, prefix + ".bn1");
  y = conv2->infer(y, rows, prefix + ".conv2");
  y = bn2->infer(y, rows, prefix + ".bn2");
  if (shortcut) shortcut->infer(in, rows, prefix + ".shortcut");
  if (rows) {
    // The residual add and its ReLU: a row of its own, named as the profiler names it.
    LayerInfo add;
    add.name = prefix + ".add_relu";
    add.kind = "Add+ReLU";
    add.output = y;
    rows->push_back(add);
  }
  return y;
}

}  // namespace ecg
