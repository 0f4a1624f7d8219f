// Writing the study's float models as ONNX (models/onnx.h): one node per
// layer, PyTorch's tensor layouts (so weights are copied, not transposed),
// "same" padding spelled out as explicit pads for the model's input size.
#include "kernels/kernel_api.h"
#include "models/onnx.h"
#include "models/onnx_builders.h"

namespace ecg {

namespace {

// Builds the graph layer by layer, tracking the current value and its shape.
class GraphWriter {
 public:
  GraphWriter(onnx::GraphProto* g, Shape shape) : g_(g), shape_(std::move(shape)) {}

  const std::string& value() const { return value_; }
  const Shape& shape() const { return shape_; }

  void layer(const std::string& name, Module& m) {
    if (auto* c = dynamic_cast<Conv2d*>(&m)) return conv(name, *c);
    if (auto* b = dynamic_cast<BatchNorm*>(&m)) return batch_norm(name, *b);
    if (dynamic_cast<ReLU*>(&m)) {
      value_ = node("Relu", name, {value_});
      return;
    }
    if (auto* p = dynamic_cast<MaxPool2d*>(&m)) return pool("MaxPool", name, p->options());
    if (auto* p = dynamic_cast<AvgPool2d*>(&m)) return pool("AveragePool", name, p->options());
    if (dynamic_cast<Flatten*>(&m)) {
      onnx::NodeProto* n = nullptr;
      value_ = node("Flatten", name, {value_}, &n);
      onnx_io::set_int_attr(n, "axis", 1);
      shape_ = {shape_[0], shape_numel(shape_) / shape_[0]};
      return;
    }
    if (auto* l = dynamic_cast<Linear*>(&m)) return linear(name, *l);
    if (dynamic_cast<Dropout*>(&m)) return;  // identity at inference
    if (auto* r = dynamic_cast<ResidualBlock*>(&m)) return residual(name, *r);
    fail("export: layer '", name, "' (", m.kind(), ") has no ONNX form here");
  }

 private:
  // Node `name` with one output, name + ".out", which it returns.
  std::string node(const std::string& op, const std::string& name,
                   const std::vector<std::string>& inputs, onnx::NodeProto** out = nullptr) {
    onnx::NodeProto* n = onnx_io::add_node(g_, op, name, inputs, {name + ".out"});
    if (out) *out = n;
    return name + ".out";
  }
  std::string weight(const std::string& name, const Tensor& t) {
    Tensor c = t.detach().contiguous().to(Device::cpu());
    onnx_io::set_float_tensor(g_->add_initializer(), name, c.data<float>(), c.shape());
    return name;
  }
  // ONNX pads [top, left, bottom, right] for a window over the current shape.
  std::vector<int64_t> pads(Padding mode, int kh, int kw, int sh, int sw, int top, int left,
                            int bottom, int right) const {
    if (mode == Padding::Same) {
      tf_same_padding(static_cast<int>(shape_[2]), kh, sh, top, bottom);
      tf_same_padding(static_cast<int>(shape_[3]), kw, sw, left, right);
    } else if (mode == Padding::Valid) {
      top = left = bottom = right = 0;
    }
    return {top, left, bottom, right};
  }
  void window_shape(int kh, int kw, int sh, int sw, const std::vector<int64_t>& p, int64_t ch) {
    shape_ = {shape_[0], ch, (shape_[2] + p[0] + p[2] - kh) / sh + 1,
              (shape_[3] + p[1] + p[3] - kw) / sw + 1};
  }

  void conv(const std::string& name, Conv2d& c) {
    const Conv2dConfig& cfg = c.config();
    std::vector<std::string> in = {value_, weight(name + ".weight", c.weight())};
    if (c.bias()) in.push_back(weight(name + ".bias", *c.bias()));
    onnx::NodeProto* n = nullptr;
    std::vector<int64_t> p =
        pads(cfg.padding, cfg.kernel, cfg.kernel, cfg.stride, cfg.stride, 0, 0, 0, 0);
    value_ = node("Conv", name, in, &n);
    onnx_io::set_ints_attr(n, "kernel_shape", {cfg.kernel, cfg.kernel});
    onnx_io::set_ints_attr(n, "strides", {cfg.stride, cfg.stride});
    onnx_io::set_ints_attr(n, "pads", p);
    window_shape(cfg.kernel, cfg.kernel, cfg.stride, cfg.stride, p, cfg.out);
  }
  void batch_norm(const std::string& name, BatchNorm& b) {
    std::vector<std::string> in = {value_, weight(name + ".weight", b.gamma()),
                                   weight(name + ".bias", b.beta()),
                                   weight(name + ".running_mean", b.running_mean()),
                                   weight(name + ".running_var", b.running_var())};
    onnx::NodeProto* n = nullptr;
    value_ = node("BatchNormalization", name, in, &n);
    onnx_io::set_float_attr(n, "epsilon", static_cast<float>(b.eps()));
    if (b.fuses_relu()) value_ = node("Relu", name + ".relu", {value_});
  }
  void pool(const std::string& op, const std::string& name, const Pool2dOptions& o) {
    std::vector<int64_t> p = pads(o.padding, o.kernel_h, o.kernel_w, o.stride_h, o.stride_w,
                                  o.pad_top, o.pad_left, o.pad_bottom, o.pad_right);
    onnx::NodeProto* n = nullptr;
    value_ = node(op, name, {value_}, &n);
    onnx_io::set_ints_attr(n, "kernel_shape", {o.kernel_h, o.kernel_w});
    onnx_io::set_ints_attr(n, "strides", {o.stride_h, o.stride_w});
    onnx_io::set_ints_attr(n, "pads", p);
    window_shape(o.kernel_h, o.kernel_w, o.stride_h, o.stride_w, p, shape_[1]);
  }
  void linear(const std::string& name, Linear& l) {
    std::vector<std::string> in = {value_, weight(name + ".weight", l.weight()),
                                   weight(name + ".bias", l.bias())};
    onnx::NodeProto* n = nullptr;
    value_ = node("Gemm", name, in, &n);
    onnx_io::set_int_attr(n, "transB", 1);
    shape_ = {shape_[0], l.weight().size(0)};
  }
  void residual(const std::string& name, ResidualBlock& r) {
    const std::string x = value_;
    const Shape xs = shape_;
    conv(name + ".conv1", *r.conv1);
    batch_norm(name + ".bn1", *r.bn1);
    conv(name + ".conv2", *r.conv2);
    batch_norm(name + ".bn2", *r.bn2);
    const std::string y = value_;
    const Shape ys = shape_;
    std::string s = x;
    if (r.shortcut) {
      value_ = x, shape_ = xs;
      conv(name + ".shortcut", *r.shortcut);
      s = value_;
    }
    shape_ = ys;
    value_ = node("Add", name + ".add", {s, y});
    value_ = node("Relu", name + ".relu", {value_});
  }

  onnx::GraphProto* g_;
  std::string value_ = "input";
  Shape shape_;
};

}  // namespace

void export_onnx(Model& model, const nlohmann::json& info, const std::string& path) {
  const ModelConfig& cfg = model.config();
  onnx::ModelProto m;
  onnx_io::start_export_model(&m, "exported by ecgcnn export from a " + cfg.name + " checkpoint");
  onnx::GraphProto* g = m.mutable_graph();
  g->set_name(cfg.name);
  const Shape in = {1, 3, cfg.image_size, cfg.image_size};
  onnx_io::set_batched_float_value(g->add_input(), "input", in);
  GraphWriter w(g, in);
  for (const auto& child : model.named_children()) w.layer(child.first, *child.second);
  // The last node's output is renamed "logits", the graph's output.
  ECG_CHECK(g->node_size() > 0 && w.shape().size() == 2, "export: model ", cfg.name,
            " does not end in [N, classes] logits");
  onnx::NodeProto* last = g->mutable_node(g->node_size() - 1);
  last->set_output(0, "logits");
  onnx_io::set_batched_float_value(g->add_output(), "logits", w.shape());
  onnx_io::add_metadata(&m, "ecgcnn.model", cfg.name);
  onnx_io::add_metadata(&m, "ecgcnn.image_size", std::to_string(cfg.image_size));
  if (info.contains("classes")) onnx_io::add_metadata(&m, "ecgcnn.classes", info["classes"].dump());
  if (info.contains("preprocessing"))
    onnx_io::add_metadata(&m, "ecgcnn.preprocessing", info["preprocessing"].dump());
  onnx_io::check_and_write(m, path);
}

}  // namespace ecg
