// A test helper that writes ONNX graphs with libonnx's protobuf classes, the
// way an exporter would: nodes with attributes, float initializers, one image
// input. resnet18_graph() builds torchvision's ResNet-18 layout (7x7 stride-2
// stem with padding 3, 3x3 stride-2 max pool with padding 1, basic blocks
// with 1x1 stride-2 projections, global average pool, Flatten, Gemm to 1000
// classes) with random weights and BN statistics.
#pragma once
#include <fstream>
#include <string>
#include <vector>

#include "core/rng.h"
#include "core/tensor.h"
#include "models/onnx_builders.h"

namespace ecg::testing {

class OnnxGraphWriter {
 public:
  explicit OnnxGraphWriter(int opset = 13, const std::string& name = "test_graph") {
    m_.set_ir_version(7);
    m_.set_producer_name("ecgcnn tests");
    auto* op = m_.add_opset_import();
    op->set_domain("");
    op->set_version(opset);
    m_.mutable_graph()->set_name(name);
  }

  onnx::ModelProto& proto() { return m_; }
  onnx::GraphProto& graph() { return *m_.mutable_graph(); }

  // dims: -1 writes a symbolic dimension named `sym` + index.
  void input(const std::string& name, const std::vector<int64_t>& dims,
             const std::string& sym = "d") {
    value_info(graph().add_input(), name, dims, sym);
  }
  void output(const std::string& name, const std::vector<int64_t>& dims) {
    value_info(graph().add_output(), name, dims, "out");
  }

  onnx::NodeProto* node(const std::string& op, const std::string& name,
                        const std::vector<std::string>& inputs,
                        const std::vector<std::string>& outputs) {
    return onnx_io::add_node(&graph(), op, name, inputs, outputs);
  }
  static void ints(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v) {
    onnx_io::set_ints_attr(n, name, v);
  }
  static void int1(onnx::NodeProto* n, const std::string& name, int64_t v) {
    onnx_io::set_int_attr(n, name, v);
  }
  static void float1(onnx::NodeProto* n, const std::string& name, float v) {
    onnx_io::set_float_attr(n, name, v);
  }

  void initializer(const std::string& name, const Tensor& t) {
    Tensor c = t.contiguous();
    onnx_io::set_float_tensor(graph().add_initializer(), name, c.data<float>(), c.shape());
  }

  void write(const std::string& path) const {
    std::string bytes;
    m_.SerializeToString(&bytes);
    std::ofstream(path, std::ios::binary).write(bytes.data(), bytes.size());
  }

 private:
  static void value_info(onnx::ValueInfoProto* v, const std::string& name,
                         const std::vector<int64_t>& dims, const std::string& sym) {
    v->set_name(name);
    auto* tt = v->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto_DataType_FLOAT);
    for (size_t i = 0; i < dims.size(); ++i) {
      auto* d = tt->mutable_shape()->add_dim();
      if (dims[i] < 0)
        d->set_dim_param(sym + std::to_string(i));
      else
        d->set_dim_value(dims[i]);
    }
  }
  onnx::ModelProto m_;
};

// Conv (no bias, as torchvision) -> BatchNormalization [-> Relu]; returns the output name.
inline std::string conv_bn(OnnxGraphWriter& g, const std::string& name, const std::string& in,
                           int cin, int cout, int k, int stride, int pad, bool relu,
                           uint64_t& seed) {
  const double fan_in = static_cast<double>(cin) * k * k;
  g.initializer(name + ".weight",
                Tensor::randn({cout, cin, k, k}, seed++, std::sqrt(2.0 / fan_in)));
  auto* c = g.node("Conv", name, {in, name + ".weight"}, {name + ".y"});
  OnnxGraphWriter::ints(c, "kernel_shape", {k, k});
  OnnxGraphWriter::ints(c, "strides", {stride, stride});
  OnnxGraphWriter::ints(c, "pads", {pad, pad, pad, pad});
  OnnxGraphWriter::ints(c, "dilations", {1, 1});
  OnnxGraphWriter::int1(c, "group", 1);
  const std::string bn = name + ".bn";
  g.initializer(bn + ".weight", Tensor::uniform({cout}, seed++, 0.5, 1.5));
  g.initializer(bn + ".bias", Tensor::uniform({cout}, seed++, -0.2, 0.2));
  g.initializer(bn + ".running_mean", Tensor::uniform({cout}, seed++, -0.2, 0.2));
  g.initializer(bn + ".running_var", Tensor::uniform({cout}, seed++, 0.5, 1.5));
  auto* b =
      g.node("BatchNormalization", bn,
             {name + ".y", bn + ".weight", bn + ".bias", bn + ".running_mean", bn + ".running_var"},
             {bn + ".y"});
  OnnxGraphWriter::float1(b, "epsilon", 1e-5f);
  if (!relu) return bn + ".y";
  g.node("Relu", name + ".relu", {bn + ".y"}, {name + ".relu.y"});
  return name + ".relu.y";
}

// torchvision's ResNet-18 at `size` px, batch dimension symbolic.
inline OnnxGraphWriter resnet18_graph(int size, uint64_t seed = 18) {
  OnnxGraphWriter g(13, "resnet18");
  g.input("input", {-1, 3, size, size}, "batch");
  std::string h = conv_bn(g, "conv1", "input", 3, 64, 7, 2, 3, true, seed);
  auto* mp = g.node("MaxPool", "maxpool", {h}, {"maxpool.y"});
  OnnxGraphWriter::ints(mp, "kernel_shape", {3, 3});
  OnnxGraphWriter::ints(mp, "strides", {2, 2});
  OnnxGraphWriter::ints(mp, "pads", {1, 1, 1, 1});
  h = "maxpool.y";
  int cin = 64;
  const int widths[4] = {64, 128, 256, 512};
  for (int stage = 0; stage < 4; ++stage)
    for (int b = 0; b < 2; ++b) {
      const std::string name = "layer" + std::to_string(stage + 1) + "." + std::to_string(b);
      const int cout = widths[stage], stride = (stage > 0 && b == 0) ? 2 : 1;
      std::string y = conv_bn(g, name + ".conv1", h, cin, cout, 3, stride, 1, true, seed);
      y = conv_bn(g, name + ".conv2", y, cout, cout, 3, 1, 1, false, seed);
      std::string s = h;
      if (stride != 1 || cin != cout)
        s = conv_bn(g, name + ".downsample", h, cin, cout, 1, stride, 0, false, seed);
      g.node("Add", name + ".add", {y, s}, {name + ".add.y"});
      g.node("Relu", name + ".relu", {name + ".add.y"}, {name + ".y"});
      h = name + ".y";
      cin = cout;
    }
  g.node("GlobalAveragePool", "avgpool", {h}, {"avgpool.y"});
  auto* fl = g.node("Flatten", "flatten", {"avgpool.y"}, {"flatten.y"});
  OnnxGraphWriter::int1(fl, "axis", 1);
  g.initializer("fc.weight", Tensor::uniform({1000, 512}, seed++, -0.044, 0.044));
  g.initializer("fc.bias", Tensor::uniform({1000}, seed++, -0.044, 0.044));
  auto* fc = g.node("Gemm", "fc", {"flatten.y", "fc.weight", "fc.bias"}, {"logits"});
  OnnxGraphWriter::float1(fc, "alpha", 1.f);
  OnnxGraphWriter::float1(fc, "beta", 1.f);
  OnnxGraphWriter::int1(fc, "transB", 1);
  g.output("logits", {-1, 1000});
  return g;
}

}  // namespace ecg::testing
