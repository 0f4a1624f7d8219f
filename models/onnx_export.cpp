// Writing the study's float models as ONNX (models/onnx.h): one node per
// layer, PyTorch's tensor layouts (so weights are copied, not transposed),
// "same" padding spelled out as explicit pads for the model's input size.
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "kernels/kernel_api.h"
#include "models/onnx.h"
#include "models/onnx_proto.h"

namespace ecg {

namespace onnx_io {

void set_float_tensor(onnx::TensorProto* t, const std::string& name, const float* data,
                      const Shape& shape) {
  t->set_name(name);
  t->set_data_type(onnx::TensorProto_DataType_FLOAT);
  for (int64_t d : shape) t->add_dims(d);
  t->set_raw_data(std::string(reinterpret_cast<const char*>(data),
                              static_cast<size_t>(shape_numel(shape)) * sizeof(float)));
}

void check_and_write(const onnx::ModelProto& m, const std::string& path) {
  try {
    onnx::checker::check_model(m);
  } catch (const std::exception& e) {
    fail("'", path, "': the exported graph fails the ONNX checker: ", one_line(e.what()));
  }
  std::string bytes;
  ECG_CHECK(m.SerializeToString(&bytes), "'", path, "': the model does not serialize");
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    ECG_CHECK(f.good(), "'", path, "': cannot write the file");
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    f.flush();
    ECG_CHECK(f.good(), "'", path, "': write failed (disk full?)");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::remove(tmp.c_str());
    fail("'", path, "': cannot write the file (", ec.message(), ")");
  }
}

}  // namespace onnx_io

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
      int_attr(n, "axis", 1);
      shape_ = {shape_[0], shape_numel(shape_) / shape_[0]};
      return;
    }
    if (auto* l = dynamic_cast<Linear*>(&m)) return linear(name, *l);
    if (dynamic_cast<Dropout*>(&m)) return;  // identity at inference
    if (auto* r = dynamic_cast<ResidualBlock*>(&m)) return residual(name, *r);
    fail("export: layer '", name, "' (", m.kind(), ") has no ONNX form here");
  }

 private:
  std::string node(const std::string& op, const std::string& name,
                   const std::vector<std::string>& inputs, onnx::NodeProto** out = nullptr) {
    onnx::NodeProto* n = g_->add_node();
    n->set_op_type(op);
    n->set_name(name);
    for (const auto& i : inputs) n->add_input(i);
    n->add_output(name + ".out");
    if (out) *out = n;
    return name + ".out";
  }
  static void int_attr(onnx::NodeProto* n, const std::string& name, int64_t v) {
    onnx::AttributeProto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto_AttributeType_INT);
    a->set_i(v);
  }
  static void ints_attr(onnx::NodeProto* n, const std::string& name,
                        const std::vector<int64_t>& v) {
    onnx::AttributeProto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto_AttributeType_INTS);
    for (int64_t x : v) a->add_ints(x);
  }
  static void float_attr(onnx::NodeProto* n, const std::string& name, float v) {
    onnx::AttributeProto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto_AttributeType_FLOAT);
    a->set_f(v);
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
    ints_attr(n, "kernel_shape", {cfg.kernel, cfg.kernel});
    ints_attr(n, "strides", {cfg.stride, cfg.stride});
    ints_attr(n, "pads", p);
    window_shape(cfg.kernel, cfg.kernel, cfg.stride, cfg.stride, p, cfg.out);
  }
  void batch_norm(const std::string& name, BatchNorm& b) {
    std::vector<std::string> in = {value_, weight(name + ".weight", b.gamma()),
                                   weight(name + ".bias", b.beta()),
                                   weight(name + ".running_mean", b.running_mean()),
                                   weight(name + ".running_var", b.running_var())};
    onnx::NodeProto* n = nullptr;
    value_ = node("BatchNormalization", name, in, &n);
    float_attr(n, "epsilon", static_cast<float>(b.eps()));
    if (b.fuses_relu()) value_ = node("Relu", name + ".relu", {value_});
  }
  void pool(const std::string& op, const std::string& name, const Pool2dOptions& o) {
    std::vector<int64_t> p = pads(o.padding, o.kernel_h, o.kernel_w, o.stride_h, o.stride_w,
                                  o.pad_top, o.pad_left, o.pad_bottom, o.pad_right);
    onnx::NodeProto* n = nullptr;
    value_ = node(op, name, {value_}, &n);
    ints_attr(n, "kernel_shape", {o.kernel_h, o.kernel_w});
    ints_attr(n, "strides", {o.stride_h, o.stride_w});
    ints_attr(n, "pads", p);
    window_shape(o.kernel_h, o.kernel_w, o.stride_h, o.stride_w, p, shape_[1]);
  }
  void linear(const std::string& name, Linear& l) {
    std::vector<std::string> in = {value_, weight(name + ".weight", l.weight()),
                                   weight(name + ".bias", l.bias())};
    onnx::NodeProto* n = nullptr;
    value_ = node("Gemm", name, in, &n);
    int_attr(n, "transB", 1);
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

void value_info(onnx::ValueInfoProto* v, const std::string& name, const Shape& shape) {
  v->set_name(name);
  auto* tt = v->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx::TensorProto_DataType_FLOAT);
  for (size_t i = 0; i < shape.size(); ++i) {
    auto* d = tt->mutable_shape()->add_dim();
    if (i == 0)
      d->set_dim_param("batch");
    else
      d->set_dim_value(shape[i]);
  }
}

void add_metadata(onnx::ModelProto* m, const std::string& key, const std::string& value) {
  auto* p = m->add_metadata_props();
  p->set_key(key);
  p->set_value(value);
}

}  // namespace

void export_onnx(Model& model, const nlohmann::json& info, const std::string& path) {
  const ModelConfig& cfg = model.config();
  onnx::ModelProto m;
  m.set_ir_version(7);  // the IR of opset 13 (ONNX 1.8)
  m.set_producer_name("ecgcnn");
  m.set_producer_version(ECG_VERSION);
  m.set_doc_string("exported by ecgcnn export from a " + cfg.name + " checkpoint");
  auto* op = m.add_opset_import();
  op->set_domain("");
  op->set_version(kOnnxExportOpset);
  onnx::GraphProto* g = m.mutable_graph();
  g->set_name(cfg.name);
  const Shape in = {1, 3, cfg.image_size, cfg.image_size};
  value_info(g->add_input(), "input", in);
  GraphWriter w(g, in);
  for (const auto& child : model.named_children()) w.layer(child.first, *child.second);
  // The last node's output is renamed "logits", the graph's output.
  ECG_CHECK(g->node_size() > 0 && w.shape().size() == 2, "export: model ", cfg.name,
            " does not end in [N, classes] logits");
  onnx::NodeProto* last = g->mutable_node(g->node_size() - 1);
  last->set_output(0, "logits");
  value_info(g->add_output(), "logits", w.shape());
  add_metadata(&m, "ecgcnn.model", cfg.name);
  add_metadata(&m, "ecgcnn.image_size", std::to_string(cfg.image_size));
  if (info.contains("classes")) add_metadata(&m, "ecgcnn.classes", info["classes"].dump());
  if (info.contains("preprocessing"))
    add_metadata(&m, "ecgcnn.preprocessing", info["preprocessing"].dump());
  onnx_io::check_and_write(m, path);
}

}  // namespace ecg
